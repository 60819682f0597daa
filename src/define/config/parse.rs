//! TOML → [`Experiment`], with every mistake reported at its line and field.

use super::error::{ConfigError, closest, hint_for_serde_message};
use super::*;
use crate::define::template;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// Names rigor records for every trial; user metrics may not reuse them.
pub const BUILTIN_METRICS: [&str; 4] = ["wall_time", "user_time", "sys_time", "max_rss"];
/// A per-trial metric that comes from telemetry (`gpu.*`, `gpuN.*`, `host.*`, the same over
/// a window, `window.*`, and the window's time, `window_time`). Reports summarise these per cell but make no claims with
/// them unless asked: a comparison of every reading against the baseline would bury the
/// ones the experiment is about.
pub fn is_telemetry_metric(name: &str) -> bool {
    is_reserved_metric(name) && !BUILTIN_METRICS.contains(&name)
}

/// `window_time`, `window_time.NAME`: how long a trial spent in its windows.
fn is_window_time(name: &str) -> bool {
    name == "window_time" || name.starts_with("window_time.")
}

/// Whether rigor itself measures `name`: the per-trial built-ins, the windows' times, and
/// everything under `gpu.`, `gpuN.`, `host.`, `telemetry.` and `window.` (telemetry).
pub fn is_reserved_metric(name: &str) -> bool {
    if BUILTIN_METRICS.contains(&name)
        || is_window_time(name)
        || name.starts_with("host.")
        || name.starts_with("telemetry.")
        || name.starts_with("window.")
    {
        return true;
    }
    name.strip_prefix("gpu")
        .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
        .is_some_and(|r| r.starts_with('.'))
}

/// Placeholders rigor fills in itself.
/// The most cells and trials one experiment may plan.
pub const MAX_CELLS: u64 = 100_000;
pub const MAX_TRIALS: u64 = 10_000_000;

/// 1234567 as "1,234,567".
fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Placeholders rigor fills in every command.
pub const BUILTIN_PLACEHOLDERS: [&str; 3] = ["variant", "workload", "trial"];
/// `{port}` is left as is for the `llm-serve` probe, which fills in the free port it picks
/// in its `server_command`; anywhere else it would be passed on literally.
pub const PORT_PLACEHOLDER: &str = "port";
/// Every workload kind, for suggestions.
const KINDS: [&str; 4] = ["command", "gemm", "copy", "llm-serve"];

/// Reads and validates an experiment file.
pub fn read_experiment(path: &Path) -> Result<(Experiment, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::whole_file(path, format!("cannot read the experiment file: {e}"))
    })?;
    let exp = parse_experiment(path, &text)?;
    Ok((exp, text))
}

/// Validates experiment-file text; `path` is used for messages and to resolve relative paths.
pub fn parse_experiment(path: &Path, text: &str) -> Result<Experiment> {
    Parser { path, text }.parse()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    experiment: Spanned<RawExperiment>,
    #[serde(default)]
    variant: Vec<Spanned<RawVariant>>,
    analysis: Option<Spanned<crate::stats::compare::Settings>>,
    telemetry: Option<Spanned<RawTelemetry>>,
    gate: Option<Spanned<RawGate>>,
    #[serde(default)]
    hypothesis: Vec<Spanned<RawHypothesis>>,
    #[serde(default)]
    factor: Vec<Spanned<RawFactor>>,
    #[serde(default)]
    derived: Vec<Spanned<RawDerived>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerived {
    name: Spanned<String>,
    expr: Spanned<String>,
    unit: Option<String>,
    better: crate::define::config::Better,
}

/// A toggle or setting whose values generate variants.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFactor {
    name: Spanned<String>,
    /// The first value is the baseline level.
    values: Spanned<Vec<toml::Value>>,
    /// Environment variables per value; `{value}` is the factor's value.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Words added to the variant's wrapper per value; `{value}` is the factor's value.
    prefix: Option<Vec<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Design {
    /// Every combination of every factor's values.
    Factorial,
    /// The baseline (every factor at its first value) and each other value of each factor
    /// alone: "the full system vs each feature off".
    Ablation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHypothesis {
    metric: Spanned<String>,
    variant: Spanned<String>,
    workload: Option<Spanned<String>>,
    claim: crate::define::config::Claim,
    margin: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdaptive {
    min: Option<u32>,
    max: u32,
    ci_width: f64,
    budget: Option<toml::Value>,
    #[serde(default)]
    metrics: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    interval: Option<Spanned<toml::Value>>,
    gpu: Option<Spanned<toml::Value>>,
    gpus: Option<Vec<Spanned<toml::Value>>>,
    host: Option<bool>,
    flag_throttle: Option<bool>,
    flag_foreign_processes: Option<bool>,
    pcie: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    gpu_temp_below_c: Option<Spanned<f64>>,
    no_foreign_processes: Option<bool>,
    timeout: Option<Spanned<toml::Value>>,
}

/// The fields every probe workload shares; the probe's own fields are read separately.
#[derive(Deserialize)]
struct RawProbeCommon {
    name: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: Spanned<String>,
    description: Option<String>,
    seed: Option<u64>,
    baseline: Option<Spanned<String>>,
    trials: Option<Spanned<toml::Value>>,
    warmup: Option<u32>,
    order: Option<Order>,
    cooldown: Option<Spanned<toml::Value>>,
    timeout: Option<Spanned<toml::Value>>,
    retries: Option<u32>,
    log_limit: Option<Spanned<toml::Value>>,
    design: Option<Spanned<Design>>,
    lanes: Option<Spanned<RawLanes>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLanes {
    gpus: Option<Spanned<toml::Value>>,
    cpus: Option<Vec<Spanned<String>>>,
    numa: Option<Spanned<bool>>,
    isolation: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
    prefix: Option<Spanned<toml::Value>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    container: Option<Spanned<toml::Value>>,
    chroot: Option<Spanned<toml::Value>>,
    unshare: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommandWorkload {
    name: Spanned<String>,
    #[allow(dead_code)] // read before dispatch; kept so that `kind` is a known field
    kind: String,
    description: Option<String>,
    command: Spanned<toml::Value>,
    shell: Option<ShellMode>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    json_metrics: Option<bool>,
    #[serde(default)]
    metric: Vec<Spanned<RawMetric>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: Spanned<String>,
    regex: Option<Spanned<String>>,
    source: Option<Stream>,
    unit: Option<String>,
    better: Option<Better>,
    reduce: Option<Reduce>,
    required: Option<bool>,
    exact: Option<bool>,
}

struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
}

type Result<T> = std::result::Result<T, ConfigError>;

impl<'a> Parser<'a> {
    /// A `workdir` as written, refused unless it is a directory (relative to the file's
    /// directory): a missing one would fail every trial, and nothing runs until the whole
    /// file is valid.
    fn existing_dir(&self, d: &Spanned<String>, field: &str) -> Result<PathBuf> {
        let p = PathBuf::from(d.get_ref());
        let base = self
            .path
            .parent()
            .filter(|b| !b.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let resolved = if p.is_absolute() {
            p.clone()
        } else {
            base.join(&p)
        };
        if !resolved.is_dir() {
            return Err(self
                .err(d.span(), field, format!("`{}` is not a directory ({})", d.get_ref(), resolved.display()))
                .with_hint("create it, or fix the path (a relative path is taken from the experiment file's directory)"));
        }
        Ok(p)
    }

    /// The span of `len` bytes at `offset` inside the string value `t` written at `span`,
    /// when the file spells it plainly (a quoted string without escapes); else the value's.
    fn inner_span(&self, span: Range<usize>, t: &str, offset: usize, len: usize) -> Range<usize> {
        let written = self.text.get(span.clone()).unwrap_or("");
        let plain = written.len() == t.len() + 2
            && (written.starts_with('"') || written.starts_with('\''))
            && &written[1..written.len() - 1] == t;
        if plain {
            span.start + 1 + offset..span.start + 1 + offset + len
        } else {
            span
        }
    }

    fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> ConfigError {
        ConfigError::at(self.path, self.text, Some(span), field, msg)
    }

    /// Converts a toml/serde error into ours, finding the field from the error's span.
    /// An error from deserialising a value again (its inner spans are lost, so it points at
    /// the whole value): a "did you mean" for a misspelt key or name, else `example`.
    fn value_error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        e: toml::de::Error,
        example: &str,
    ) -> ConfigError {
        let message = e.message().trim().to_string();
        let hint = hint_for_serde_message(&message).unwrap_or_else(|| example.to_string());
        self.err(span, field, message).with_hint(hint)
    }

    fn toml_error(&self, root: &DeTable<'_>, prefix: &str, e: toml::de::Error) -> ConfigError {
        let message = e.message().trim().to_string();
        let mut field = match e.span() {
            Some(span) => field_at(root, &span),
            None => String::new(),
        };
        if field.is_empty() {
            field = prefix.to_string();
        }
        if let Some(rest) = message.strip_prefix("missing field `")
            && let Some(name) = rest.split('`').next()
        {
            field = join(&field, name);
        }
        // TOML integers are 64-bit; the parser's own words for a longer one are "invalid
        // type: integer `…` as i128".
        let message = match message.split_once("as i128") {
            Some((head, _)) if head.starts_with("invalid type: integer") => {
                let digits = head.split('`').nth(1).unwrap_or("the number");
                format!(
                    "`{digits}` is larger than any whole number a TOML file can hold (2^63 − 1)"
                )
            }
            _ => message,
        };
        let mut err = ConfigError::at(self.path, self.text, e.span(), field, message.clone());
        if let Some(h) = hint_for_serde_message(&message) {
            err = err.with_hint(h);
        }
        err
    }

    fn analysis(
        &self,
        root: &DeTable<'_>,
        a: Option<&Spanned<crate::stats::compare::Settings>>,
    ) -> Result<crate::stats::compare::Settings> {
        let Some(a) = a else {
            return Ok(Default::default());
        };
        let s = a.get_ref().clone();
        s.check().map_err(|(field, what)| {
            // Point at the offending key's value when it was written, else at the table.
            let span = root
                .get("analysis")
                .and_then(|t| t.get_ref().as_table())
                .and_then(|t| t.get(field))
                .map_or(a.span(), |v| v.span());
            self.err(span, format!("analysis.{field}"), what)
                .with_hint("see docs/statistics.md for what each setting does")
        })?;
        if let Some(bad) = s.compare.iter().find(|n| !is_telemetry_metric(n)) {
            let span = root
                .get("analysis")
                .and_then(|t| t.get_ref().as_table())
                .and_then(|t| t.get("compare"))
                .map_or(a.span(), |v| v.span());
            return Err(self
                .err(span, "analysis.compare", format!("`{bad}` is not a telemetry metric"))
                .with_hint("`compare` lists telemetry metrics (`gpu.energy_j`, `window.gpu.power_w.mean`, `host.cpu_util_pct.mean`…) to compare like the workload's own; workload and derived metrics are compared already"));
        }
        Ok(s)
    }

    fn parse(&self) -> Result<Experiment> {
        let mut doc = DeTable::parse(self.text).map_err(|e| {
            let msg = e.message().trim().to_string();
            ConfigError::at(
                self.path,
                self.text,
                e.span(),
                "",
                format!("not valid TOML: {msg}"),
            )
        })?;
        let root_for_paths = doc.get_ref().clone();
        let workloads_value = doc.get_mut().remove("workload");
        let raw = RawFile::deserialize(toml::de::Deserializer::from(doc))
            .map_err(|e| self.toml_error(&root_for_paths, "", e))?;

        let exp = raw.experiment.get_ref();
        let name = self.check_name(&exp.name, "experiment.name")?;

        let mut variants = Vec::new();
        for (i, v) in raw.variant.iter().enumerate() {
            variants.push(self.variant(i, v.get_ref())?);
        }
        let generated = self.factors(&raw.factor, exp.design.as_ref())?;
        let generated_baseline = generated.first().map(|v| v.name.clone());
        for g in generated {
            if variants.iter().any(|v| v.name == g.name) {
                let span = raw.factor[0].span();
                return Err(self
                    .err(
                        span,
                        "factor",
                        format!(
                            "the generated variant `{}` has the name of a [[variant]]",
                            g.name
                        ),
                    )
                    .with_hint("rename the [[variant]]"));
            }
            variants.push(g);
        }
        if variants.is_empty() {
            variants.push(Variant {
                name: "default".into(),
                description: None,
                env: BTreeMap::new(),
                prefix: Vec::new(),
                workdir: None,
                params: BTreeMap::new(),
                environment: None,
                unshare: Vec::new(),
            });
        }
        self.check_unique(raw.variant.iter().map(|v| &v.get_ref().name), "variant")?;

        let baseline = match &exp.baseline {
            Some(b) => {
                if !variants.iter().any(|v| &v.name == b.get_ref()) {
                    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                    let mut e = self.err(
                        b.span(),
                        "experiment.baseline",
                        format!("no variant is named `{}`", b.get_ref()),
                    );
                    e = e.with_hint(match closest(b.get_ref(), names.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("the variants are: {}", names.join(", ")),
                    });
                    return Err(e);
                }
                b.get_ref().clone()
            }
            None => generated_baseline.unwrap_or_else(|| variants[0].name.clone()),
        };

        let (workloads, workload_raw) =
            self.workloads(&root_for_paths, workloads_value, &variants)?;
        self.check_params_against_variants(&variants, &raw.variant, &workloads, &workload_raw)?;

        let (trials, adaptive) = match &exp.trials {
            None => (10, None),
            Some(t) => self.trials(t)?,
        };
        let per_cell = u64::from(trials.max(adaptive.as_ref().map_or(0, |a| a.max)))
            + u64::from(exp.warmup.unwrap_or(0));
        self.check_size(
            &variants,
            &workloads,
            &workload_raw,
            per_cell,
            exp.trials.as_ref(),
        )?;
        let cooldown = match &exp.cooldown {
            None => Duration::ZERO,
            Some(c) => self.duration(c, "experiment.cooldown")?,
        };
        let timeout = match &exp.timeout {
            None => Some(Duration::from_secs(3600)),
            Some(t) => match t.get_ref() {
                toml::Value::String(s) if s == "none" => None,
                _ => {
                    let d = self.duration(t, "experiment.timeout")?;
                    if d.is_zero() {
                        return Err(self
                            .err(t.span(), "experiment.timeout", "a timeout of 0 would stop every trial before it starts")
                            .with_hint("give the longest a trial may take, e.g. \"10m\", or \"none\" for no limit"));
                    }
                    Some(d)
                }
            },
        };
        let analysis = self.analysis(&root_for_paths, raw.analysis.as_ref())?;
        let base_dir = self
            .path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();

        Ok(Experiment {
            name,
            description: exp.description.clone(),
            seed: exp.seed.unwrap_or(0),
            baseline,
            trials,
            adaptive,
            warmup: exp.warmup.unwrap_or(0),
            order: exp.order.unwrap_or(Order::Randomized),
            cooldown,
            timeout,
            retries: exp.retries.unwrap_or(0),
            log_limit: match &exp.log_limit {
                None => crate::define::config::DEFAULT_LOG_LIMIT,
                Some(v) => {
                    let bytes = match v.get_ref() {
                        toml::Value::Integer(n) if *n >= 0 => Some(*n as u64),
                        toml::Value::String(s) if s == "none" => Some(0),
                        toml::Value::String(s) => crate::define::fields::parse_size(s),
                        _ => None,
                    };
                    match bytes {
                        Some(b) if b == 0 || b >= 4096 => b,
                        _ => {
                            return Err(self
                                .err(v.span(), "experiment.log_limit", format!("`{}` is not a usable log size", v.get_ref()))
                                .with_hint("bytes of each trial's stdout and stderr to keep, at least 4 KiB, e.g. \"16MiB\"; \"none\" keeps everything"));
                        }
                    }
                }
            },
            telemetry: self.telemetry(raw.telemetry.as_ref())?,
            gate: self.gate(raw.gate.as_ref())?,
            lanes: self.lanes(exp.lanes.as_ref())?,
            hypotheses: self.hypotheses(&raw.hypothesis, &variants, &workloads, &analysis)?,
            derived: self.derived(&raw.derived, &workloads)?,
            analysis,
            variants,
            workloads,
            base_dir,
        })
    }

    /// Variants generated by `[[factor]]` blocks, the baseline level (every factor at its
    /// first value) first.
    fn factors(
        &self,
        raw: &[Spanned<RawFactor>],
        design: Option<&Spanned<Design>>,
    ) -> Result<Vec<Variant>> {
        if raw.is_empty() {
            if let Some(d) = design {
                return Err(self
                    .err(
                        d.span(),
                        "experiment.design",
                        "a design needs [[factor]] blocks to combine",
                    )
                    .with_hint("add [[factor]] blocks, or remove `design`"));
            }
            return Ok(Vec::new());
        }
        let design = design.map_or(Design::Factorial, |d| *d.get_ref());
        self.check_unique(raw.iter().map(|f| &f.get_ref().name), "factor")?;
        // (factor, its values as written and as parameter values)
        let mut levels: Vec<(&RawFactor, Vec<(String, ParamValue)>)> = Vec::new();
        for (i, f) in raw.iter().enumerate() {
            let r = f.get_ref();
            let at = format!("factor[{i}]");
            self.check_param_name(r.name.get_ref(), r.name.span(), &format!("{at}.name"))?;
            let mut vals = Vec::new();
            for v in r.values.get_ref() {
                let pv = self.param_value(v).ok_or_else(|| {
                    self.err(
                        r.values.span(),
                        format!("{at}.values"),
                        "values must be strings, numbers or booleans",
                    )
                })?;
                let label: String = pv
                    .to_string()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-.".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                if vals.iter().any(|(l, _): &(String, ParamValue)| l == &label) {
                    return Err(self.err(
                        r.values.span(),
                        format!("{at}.values"),
                        format!("the value `{pv}` appears twice"),
                    ));
                }
                vals.push((label, pv));
            }
            if vals.len() < 2 {
                return Err(self
                    .err(
                        r.values.span(),
                        format!("{at}.values"),
                        "a factor needs at least two values",
                    )
                    .with_hint(
                        "the first value is the baseline level, e.g. `values = [\"on\", \"off\"]`",
                    ));
            }
            levels.push((r, vals));
        }
        if design == Design::Factorial {
            let n = levels
                .iter()
                .fold(1u64, |n, (_, v)| n.saturating_mul(v.len() as u64));
            if n > MAX_CELLS {
                let last = &raw[raw.len() - 1];
                return Err(self
                    .err(
                        last.span(),
                        format!("factor[{}]", raw.len() - 1),
                        format!(
                            "a full factorial of these factors is {} variants; rigor plans at most {} cells",
                            fmt_count(n),
                            fmt_count(MAX_CELLS)
                        ),
                    )
                    .with_hint("use `design = \"ablation\"` (each factor changed alone), or fewer factors"));
            }
        }
        // Each combination: one value index per factor.
        let combos: Vec<Vec<usize>> = match design {
            Design::Factorial => {
                let mut all = vec![Vec::new()];
                for (_, vals) in &levels {
                    all = all
                        .into_iter()
                        .flat_map(|c: Vec<usize>| {
                            (0..vals.len()).map(move |k| {
                                let mut c = c.clone();
                                c.push(k);
                                c
                            })
                        })
                        .collect();
                }
                all
            }
            Design::Ablation => {
                let mut all = vec![vec![0; levels.len()]];
                for (i, (_, vals)) in levels.iter().enumerate() {
                    for k in 1..vals.len() {
                        let mut c = vec![0; levels.len()];
                        c[i] = k;
                        all.push(c);
                    }
                }
                all
            }
        };
        let mut out = Vec::new();
        for combo in combos {
            let mut params = BTreeMap::new();
            let mut env = BTreeMap::new();
            let mut prefix = Vec::new();
            let mut parts = Vec::new();
            for ((f, vals), &k) in levels.iter().zip(&combo) {
                let (label, value) = &vals[k];
                let name = f.name.get_ref();
                params.insert(name.clone(), value.clone());
                let text = value.to_string();
                for (var, template) in &f.env {
                    env.insert(var.clone(), template.replace("{value}", &text));
                }
                for w in f.prefix.iter().flatten() {
                    prefix.push(w.replace("{value}", &text));
                }
                if design == Design::Factorial || k != 0 {
                    parts.push(format!("{name}-{label}"));
                }
            }
            let name = if parts.is_empty() {
                "baseline".to_string()
            } else {
                parts.join("_")
            };
            if name.len() > 64 {
                return Err(self
                    .err(
                        raw[0].span(),
                        "factor",
                        format!("the generated variant name `{name}` is longer than 64 characters"),
                    )
                    .with_hint("use shorter factor names or values"));
            }
            out.push(Variant {
                name,
                description: None,
                env,
                prefix,
                workdir: None,
                params,
                environment: None,
                unshare: Vec::new(),
            });
        }
        Ok(out)
    }

    fn hypotheses(
        &self,
        raw: &[Spanned<RawHypothesis>],
        variants: &[Variant],
        workloads: &[Workload],
        analysis: &crate::stats::compare::Settings,
    ) -> Result<Vec<crate::define::config::Hypothesis>> {
        use crate::define::config::Claim;
        let mut out = Vec::new();
        for (i, h) in raw.iter().enumerate() {
            let at = format!("hypothesis[{i}]");
            let r = h.get_ref();
            let v = r.variant.get_ref();
            if !variants.iter().any(|x| &x.name == v) {
                let names = variants.iter().map(|x| x.name.as_str());
                return Err(self
                    .err(
                        r.variant.span(),
                        format!("{at}.variant"),
                        format!("no variant is named `{v}`"),
                    )
                    .with_hint(match closest(v, names.clone()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => {
                            format!("the variants are: {}", names.collect::<Vec<_>>().join(", "))
                        }
                    }));
            }
            if let Some(w) = &r.workload
                && !workloads.iter().any(|x| &x.name == w.get_ref())
            {
                let names = workloads.iter().map(|x| x.name.as_str());
                return Err(self
                    .err(
                        w.span(),
                        format!("{at}.workload"),
                        format!("no workload is named `{}`", w.get_ref()),
                    )
                    .with_hint(match closest(w.get_ref(), names.clone()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!(
                            "the workloads are: {}",
                            names.collect::<Vec<_>>().join(", ")
                        ),
                    }));
            }
            let margin = match (&r.margin, r.claim) {
                (Some(m), _) => *m.get_ref(),
                (None, Claim::Equivalent) => analysis.margin,
                (None, Claim::Faster | Claim::Slower) => 0.0,
                (None, Claim::RatioBelow) => {
                    return Err(self
                        .err(h.span(), format!("{at}.margin"), "`ratio_below` needs a margin: the claim is ratio < 1 + margin")
                        .with_hint("e.g. `margin = 0.10` claims the variant is less than 10% above the baseline"));
                }
            };
            let ok = match r.claim {
                Claim::Equivalent => margin > 0.0 && margin < 1.0,
                Claim::Faster | Claim::Slower => (0.0..1.0).contains(&margin),
                Claim::RatioBelow => margin > -1.0 && margin.is_finite(),
            };
            if !ok {
                let span = r.margin.as_ref().map_or(h.span(), |m| m.span());
                return Err(self
                    .err(span, format!("{at}.margin"), format!("margin {margin} does not fit a `{}` claim", r.claim))
                    .with_hint("margins are relative: 0.03 is 3%; `equivalent` needs 0 < margin < 1, `faster`/`slower` 0 ≤ margin < 1, `ratio_below` margin > -1"));
            }
            out.push(crate::define::config::Hypothesis {
                metric: r.metric.get_ref().clone(),
                variant: v.clone(),
                workload: r.workload.as_ref().map(|w| w.get_ref().clone()),
                claim: r.claim,
                margin,
            });
        }
        Ok(out)
    }

    fn derived(
        &self,
        raw: &[Spanned<RawDerived>],
        workloads: &[Workload],
    ) -> Result<Vec<crate::define::derived::Derived>> {
        use crate::define::derived::{Derived, Expr};
        let mut out: Vec<Derived> = Vec::new();
        for (i, d) in raw.iter().enumerate() {
            let at = format!("derived[{i}]");
            let r = d.get_ref();
            let name = self.check_name(&r.name, &format!("{at}.name"))?;
            let declared = workloads.iter().any(|w| match &w.kind {
                WorkloadKind::Command(c)
                | WorkloadKind::Gemm(c)
                | WorkloadKind::Copy(c)
                | WorkloadKind::LlmServe(c) => c.metrics.iter().any(|m| m.name == name),
            });
            if is_reserved_metric(&name) || declared || out.iter().any(|o| o.name == name) {
                return Err(self
                    .err(r.name.span(), format!("{at}.name"), format!("`{name}` is already a metric"))
                    .with_hint("a derived metric needs a name of its own: not a built-in, a telemetry name (`gpu.`, `host.`, `window.`…), a declared metric or another derived one"));
            }
            let text = r.expr.get_ref();
            if let Err(e) = Expr::parse(text) {
                // The column inside the string (after its opening quote), where the
                // string has no escapes before it.
                let span = r.expr.span();
                let col = (span.start + 1 + e.at).min(span.end.saturating_sub(1));
                return Err(self
                    .err(col..col + 1, format!("{at}.expr"), format!("{e}"))
                    .with_hint("an expression is metric names and numbers with + - * / and parentheses; put spaces around `-`, which metric names may contain"));
            }
            out.push(Derived {
                name,
                expr: text.clone(),
                unit: r.unit.clone(),
                better: r.better,
            });
        }
        Ok(out)
    }

    fn check_name(&self, name: &Spanned<String>, field: &str) -> Result<String> {
        let s = name.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !s.starts_with('.');
        if ok {
            Ok(s.clone())
        } else {
            Err(self
                .err(name.span(), field, format!("`{s}` is not a usable name"))
                .with_hint(
                    "names become file names and report labels: use 1-64 letters, digits, `-`, `_` or `.`, not starting with `.`",
                ))
        }
    }

    fn check_unique<'s>(
        &self,
        names: impl Iterator<Item = &'s Spanned<String>>,
        what: &str,
    ) -> Result<()> {
        let mut seen = BTreeSet::new();
        for n in names {
            if !seen.insert(n.get_ref().as_str()) {
                return Err(self
                    .err(
                        n.span(),
                        format!("{what}.name"),
                        format!("two {what}s are named `{}`", n.get_ref()),
                    )
                    .with_hint(format!(
                        "each {what} needs its own name; results are stored under it"
                    )));
            }
        }
        Ok(())
    }

    fn trials(
        &self,
        t: &Spanned<toml::Value>,
    ) -> Result<(u32, Option<crate::define::config::Adaptive>)> {
        match t.get_ref() {
            toml::Value::Integer(n) if (1..=1_000_000).contains(n) => Ok((*n as u32, None)),
            toml::Value::Integer(n) => Err(self
                .err(
                    t.span(),
                    "experiment.trials",
                    format!("{n} trials cannot be run"),
                )
                .with_hint(
                    "use a whole number of trials per cell, at least 1 (statistics need 2 or more)",
                )),
            toml::Value::Table(_) => {
                let hint = "e.g. `trials = { min = 5, max = 30, ci_width = 0.02 }`: at least 5 trials per cell, then rounds until each ratio's CI is within ±0.02, at most 30";
                let raw = RawAdaptive::deserialize(t.get_ref().clone())
                    .map_err(|e| self.value_error(t.span(), "experiment.trials", e, hint))?;
                // Spans inside a re-deserialised value are lost; point at the table.
                let min = raw.min.unwrap_or(5);
                let (max, w) = (raw.max, raw.ci_width);
                if min < 2 || max < min || max > 1_000_000 {
                    return Err(self
                        .err(t.span(), "experiment.trials.max", format!("min = {min}, max = {max} cannot be run adaptively"))
                        .with_hint("adaptive stopping needs 2 ≤ min ≤ max (a CI needs 2 trials; 5 or more is wise)"));
                }
                if !(w > 0.0 && w < 1.0) {
                    return Err(self
                        .err(t.span(), "experiment.trials.ci_width", format!("ci_width = {w} is not a usable precision"))
                        .with_hint("ci_width is a half-width on the ratio: 0.02 stops a comparison once its 95% CI is within ratio ± 0.02"));
                }
                let budget = match raw.budget {
                    None => None,
                    Some(b) => {
                        Some(self.duration(&Spanned::new(t.span(), b), "experiment.trials.budget")?)
                    }
                };
                Ok((
                    min,
                    Some(crate::define::config::Adaptive {
                        max,
                        ci_width: w,
                        budget,
                        metrics: raw.metrics,
                    }),
                ))
            }
            other => Err(self
                .err(
                    t.span(),
                    "experiment.trials",
                    format!("expected a whole number, found {}", other.type_str()),
                )
                .with_hint("e.g. `trials = 10`")),
        }
    }

    fn duration(&self, v: &Spanned<toml::Value>, field: &str) -> Result<Duration> {
        let hint = "write a duration such as \"500ms\", \"30s\", \"2m\" or \"1h 30m\", or a number of seconds";
        match v.get_ref() {
            toml::Value::String(s) => humantime::parse_duration(s).map_err(|e| {
                self.err(v.span(), field, format!("`{s}` is not a duration: {e}"))
                    .with_hint(hint)
            }),
            toml::Value::Integer(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
            toml::Value::Float(x) if x.is_finite() && *x >= 0.0 => Ok(Duration::from_secs_f64(*x)),
            other => Err(self
                .err(
                    v.span(),
                    field,
                    format!("expected a duration, found {other}"),
                )
                .with_hint(hint)),
        }
    }

    fn variant(&self, i: usize, v: &RawVariant) -> Result<Variant> {
        let at = format!("variant[{i}]");
        let name = self.check_name(&v.name, &format!("{at}.name"))?;
        let prefix = match &v.prefix {
            None => Vec::new(),
            Some(p) => self.argv(p, &format!("{at}.prefix"))?,
        };
        let mut params = BTreeMap::new();
        for (k, val) in &v.params {
            self.check_param_name(k, val.span(), &format!("{at}.params.{k}"))?;
            let field = format!("{at}.params.{k}");
            match self.param_value(val.get_ref()) {
                Some(pv) => {
                    params.insert(k.clone(), pv);
                }
                None => {
                    return Err(self
                        .err(val.span(), field, "a variant sets one value per parameter")
                        .with_hint(
                            "to sweep values, put `params = { name = [..] }` in the workload",
                        ));
                }
            }
        }
        Ok(Variant {
            name,
            description: v.description.clone(),
            env: self.env(&v.env, &format!("{at}.env"))?,
            prefix,
            workdir: match &v.workdir {
                // A container's or chroot's own directory is `workdir` inside its table;
                // this one is where the variant's command starts on the host.
                Some(d) => Some(self.existing_dir(d, &format!("{at}.workdir"))?),
                None => None,
            },
            params,
            environment: self.environment(&at, v)?,
            unshare: self.unshare(&at, v)?,
        })
    }

    /// `unshare = ["net", "pid"]`: namespaces for a native or chroot variant.
    fn unshare(
        &self,
        at: &str,
        v: &RawVariant,
    ) -> Result<Vec<crate::define::environment::Namespace>> {
        use crate::define::environment::Namespace;
        let Some(u) = &v.unshare else {
            return Ok(Vec::new());
        };
        let field = format!("{at}.unshare");
        if v.container.is_some() {
            return Err(self
                .err(
                    u.span(),
                    field,
                    "a container has namespaces of its own; unshare is for native and chroot variants",
                )
                .with_hint("use the runtime's flags in extra_args (e.g. `--network=none`)"));
        }
        let mut out = Vec::<Namespace>::deserialize(u.get_ref().clone()).map_err(|e| {
            self.value_error(
                u.span(),
                field,
                e,
                "write e.g. `unshare = [\"net\", \"pid\"]`; namespaces: net, pid, ipc, uts, mount, user",
            )
        })?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn environment(
        &self,
        at: &str,
        v: &RawVariant,
    ) -> Result<Option<crate::define::environment::Environment>> {
        use crate::define::environment::{Chroot, Container, Environment, preset_args};
        match (&v.container, &v.chroot) {
            (Some(c), Some(_)) => Err(self
                .err(
                    c.span(),
                    format!("{at}.container"),
                    "a variant runs in a container or a chroot, not both",
                )
                .with_hint("make two variants, one per environment")),
            (Some(c), None) => {
                let field = format!("{at}.container");
                let hint = "e.g. `container = { runtime = \"podman\", image = \"localhost/app:1\", preset = \"nvidia\", extra_args = [\"--shm-size=8g\"] }`";
                let parsed = Container::deserialize(c.get_ref().clone())
                    .map_err(|e| self.value_error(c.span(), field.clone(), e, hint))?;
                if parsed.image.trim().is_empty() {
                    return Err(self
                        .err(c.span(), format!("{field}.image"), "the image is empty")
                        .with_hint(hint));
                }
                for p in &parsed.preset {
                    preset_args(parsed.runtime, p)
                        .map_err(|e| self.err(c.span(), format!("{field}.preset"), e.0))?;
                }
                if let Some(m) = parsed.mounts.iter().find(|m| m.split(':').count() < 2) {
                    return Err(self
                        .err(
                            c.span(),
                            format!("{field}.mounts"),
                            format!("`{m}` is not a mount"),
                        )
                        .with_hint("write host:container, or host:container:ro"));
                }
                Ok(Some(Environment::Container(parsed)))
            }
            (None, Some(r)) => {
                let field = format!("{at}.chroot");
                let parsed = match r.get_ref() {
                    toml::Value::String(root) => Chroot { root: root.into(), workdir: None },
                    other => Chroot::deserialize(other.clone()).map_err(|e| {
                        self.value_error(r.span(), field.clone(), e, "write `chroot = \"/path/to/rootfs\"` or `chroot = { root = \"/path\", workdir = \"/work\" }`")
                    })?,
                };
                Ok(Some(Environment::Chroot(parsed)))
            }
            (None, None) => Ok(None),
        }
    }

    fn env(
        &self,
        env: &BTreeMap<String, Spanned<toml::Value>>,
        at: &str,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, v) in env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(self.err(
                    v.span(),
                    format!("{at}.{k}"),
                    format!("`{k}` is not a valid environment variable name"),
                ));
            }
            let s = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    v.get_ref().to_string()
                }
                other => {
                    return Err(self.err(
                        v.span(),
                        format!("{at}.{k}"),
                        format!(
                            "an environment value must be a string, found {}",
                            other.type_str()
                        ),
                    ));
                }
            };
            out.insert(k.clone(), s);
        }
        Ok(out)
    }

    fn argv(&self, v: &Spanned<toml::Value>, field: &str) -> Result<Vec<String>> {
        match v.get_ref() {
            toml::Value::String(s) => shell_words::split(s).map_err(|e| {
                self.err(v.span(), field, format!("cannot split `{s}` into words: {e}"))
                    .with_hint("check the quotes, or write the words as an array: [\"taskset\", \"-c\", \"0\"]")
            }),
            toml::Value::Array(items) => items
                .iter()
                .map(|it| match it {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(v.span(), field, format!("every word must be a string, found {}", other.type_str()))),
                })
                .collect(),
            other => Err(self.err(v.span(), field, format!("expected a string or an array of strings, found {}", other.type_str()))),
        }
    }

    fn check_param_name(&self, k: &str, span: Range<usize>, field: &str) -> Result<()> {
        let ident = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(self
                .err(span, field, format!("`{k}` cannot be a parameter name"))
                .with_hint("parameter names are used as {name} placeholders: letters, digits and `_`, not starting with a digit"));
        }
        if BUILTIN_PLACEHOLDERS.contains(&k) || k == PORT_PLACEHOLDER {
            return Err(self
                .err(
                    span,
                    field,
                    format!("`{k}` is reserved: rigor fills in {{{k}}} itself"),
                )
                .with_hint("choose another name"));
        }
        Ok(())
    }

    fn param_value(&self, v: &toml::Value) -> Option<ParamValue> {
        match v {
            toml::Value::String(s) => Some(ParamValue::Str(s.clone())),
            toml::Value::Integer(i) => Some(ParamValue::Int(*i)),
            toml::Value::Float(f) => Some(ParamValue::Float(*f)),
            toml::Value::Boolean(b) => Some(ParamValue::Bool(*b)),
            _ => None,
        }
    }

    fn sweep(
        &self,
        params: &BTreeMap<String, Spanned<toml::Value>>,
        at: &str,
    ) -> Result<BTreeMap<String, Vec<ParamValue>>> {
        let mut out = BTreeMap::new();
        for (k, v) in params {
            let field = format!("{at}.params.{k}");
            self.check_param_name(k, v.span(), &field)?;
            let values: Vec<ParamValue> = match v.get_ref() {
                toml::Value::Array(items) => {
                    let mut vals = Vec::new();
                    for it in items {
                        match self.param_value(it) {
                            Some(pv) if !vals.contains(&pv) => vals.push(pv),
                            Some(pv) => {
                                return Err(self
                                    .err(v.span(), field, format!("the value `{pv}` is listed twice"))
                                    .with_hint("each value makes its own cells; to run more trials raise `experiment.trials`"))
                            }
                            None => {
                                return Err(self.err(v.span(), field, format!("sweep values must be strings, numbers or booleans, found {}", it.type_str())))
                            }
                        }
                    }
                    if vals.is_empty() {
                        return Err(self.err(v.span(), field, "a sweep needs at least one value"));
                    }
                    vals
                }
                other => match self.param_value(other) {
                    Some(pv) => vec![pv],
                    None => {
                        return Err(self.err(
                            v.span(),
                            field,
                            format!(
                                "expected a value or an array of values, found {}",
                                other.type_str()
                            ),
                        ));
                    }
                },
            };
            out.insert(k.clone(), values);
        }
        Ok(out)
    }

    #[allow(clippy::type_complexity)]
    fn workloads(
        &self,
        root: &DeTable<'_>,
        value: Option<Spanned<DeValue<'_>>>,
        variants: &[Variant],
    ) -> Result<(Vec<Workload>, Vec<RawCommandWorkload>)> {
        let Some(value) = value else {
            return Err(
                ConfigError::whole_file(self.path, "no workload is defined").with_hint(
                    "add a `[[workload]]` table with `name`, `kind = \"command\"` and `command`",
                ),
            );
        };
        let span = value.span();
        let items: Vec<Spanned<DeValue<'_>>> = match value.into_inner() {
            DeValue::Array(a) => a.iter().cloned().collect(),
            _ => {
                return Err(self
                    .err(span, "workload", "`workload` must be an array of tables")
                    .with_hint("write each workload as `[[workload]]`"));
            }
        };
        let mut out = Vec::new();
        let mut raws = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("workload[{i}]");
            let item_span = item.span();
            let Some(table) = item.get_ref().as_table() else {
                return Err(self.err(item_span, at, "each workload must be a table"));
            };
            let kind = match table.get("kind") {
                Some(k) => match k.get_ref().as_str() {
                    Some(s) => (s.to_string(), k.span()),
                    None => {
                        return Err(self.err(
                            k.span(),
                            format!("{at}.kind"),
                            "`kind` must be a string",
                        ));
                    }
                },
                None => {
                    return Err(self
                        .err(
                            item_span.start..item_span.start + 1,
                            format!("{at}.kind"),
                            "missing field `kind`",
                        )
                        .with_hint("add `kind = \"command\"`"));
                }
            };
            match kind.0.as_str() {
                "command" => {
                    let raw = RawCommandWorkload::deserialize(ValueDeserializer::from(item))
                        .map_err(|e| self.toml_error(root, &at, e))?;
                    out.push(self.command_workload(&at, &raw)?);
                    raws.push(raw);
                }
                k @ ("gemm" | "copy" | "llm-serve") => {
                    let probe = crate::define::fields::Probe::parse(k).expect("matched above");
                    let common = RawProbeCommon::deserialize(ValueDeserializer::from(item.clone()))
                        .map_err(|e| self.toml_error(root, &at, e))?;
                    let fields: BTreeMap<String, Spanned<toml::Value>> =
                        Deserialize::deserialize(ValueDeserializer::from(item))
                            .map_err(|e| self.toml_error(root, &at, e))?;
                    let (w, raw) =
                        self.probe_workload(&at, probe, item_span, common, &fields, variants)?;
                    out.push(w);
                    raws.push(raw);
                }
                k => {
                    let mut e = self.err(
                        kind.1,
                        format!("{at}.kind"),
                        format!("unknown workload kind `{k}`"),
                    );
                    e = e.with_hint(match closest(k, KINDS) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("the kinds are: {}", KINDS.join(", ")),
                    });
                    return Err(e);
                }
            }
        }
        self.check_unique(raws.iter().map(|r| &r.name), "workload")?;
        Ok((out, raws))
    }

    fn command_workload(&self, at: &str, raw: &RawCommandWorkload) -> Result<Workload> {
        let name = self.check_name(&raw.name, &format!("{at}.name"))?;
        let cmd_field = format!("{at}.command");
        let command = match raw.command.get_ref() {
            toml::Value::String(s) if !s.trim().is_empty() => CommandTemplate::Line(s.clone()),
            toml::Value::Array(_) => {
                let argv = self.argv(&raw.command, &cmd_field)?;
                if argv.is_empty() {
                    return Err(self.err(raw.command.span(), cmd_field, "the command is empty"));
                }
                CommandTemplate::Argv(argv)
            }
            toml::Value::String(_) => {
                return Err(self.err(raw.command.span(), cmd_field, "the command is empty"));
            }
            other => {
                return Err(self.err(
                    raw.command.span(),
                    cmd_field,
                    format!(
                        "expected a command line or an array of words, found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let shell = raw.shell.unwrap_or(ShellMode::Auto);
        if matches!(command, CommandTemplate::Argv(_)) && shell == ShellMode::Always {
            return Err(self
                .err(
                    raw.command.span(),
                    format!("{at}.shell"),
                    "`shell = \"always\"` needs the command as one string",
                )
                .with_hint("write the command line as a string, or drop `shell`"));
        }
        let mut metrics: Vec<MetricSpec> = Vec::new();
        for (j, m) in raw.metric.iter().enumerate() {
            let mat = format!("{at}.metric[{j}]");
            metrics.push(self.metric(&mat, m.get_ref())?);
        }
        self.check_unique(raw.metric.iter().map(|m| &m.get_ref().name), "metric")?;
        Ok(Workload {
            name,
            description: raw.description.clone(),
            params: self.sweep(&raw.params, at)?,
            kind: WorkloadKind::Command(CommandWorkload {
                command,
                shell,
                env: self.env(&raw.env, &format!("{at}.env"))?,
                workdir: match &raw.workdir {
                    Some(d) => Some(self.existing_dir(d, &format!("{at}.workdir"))?),
                    None => None,
                },
                json_metrics: raw.json_metrics.unwrap_or(true),
                metrics,
            }),
        })
    }

    fn metric(&self, at: &str, m: &RawMetric) -> Result<MetricSpec> {
        let name = m.name.get_ref();
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
        if !valid {
            return Err(self
                .err(
                    m.name.span(),
                    format!("{at}.name"),
                    format!("`{name}` is not a usable metric name"),
                )
                .with_hint("use letters, digits and `-_.:/`"));
        }
        if is_reserved_metric(name) {
            return Err(self
                .err(
                    m.name.span(),
                    format!("{at}.name"),
                    format!("`{name}` is measured by rigor itself"),
                )
                .with_hint(format!(
                    "rigor records {} and the gpu.*, gpuN.* and host.* telemetry for every trial; choose another name",
                    BUILTIN_METRICS.join(", ")
                )));
        }
        if let Some(r) = &m.regex {
            let re = regex::Regex::new(r.get_ref()).map_err(|e| {
                self.err(
                    r.span(),
                    format!("{at}.regex"),
                    format!("not a valid regular expression: {e}"),
                )
            })?;
            let named = re.capture_names().flatten().any(|n| n == "value");
            if !named && re.captures_len() != 2 {
                return Err(self
                    .err(r.span(), format!("{at}.regex"), "the regex must capture the number in a group named `value`")
                    .with_hint(r"e.g. 'throughput: (?P<value>[0-9.eE+-]+)' (or use exactly one capture group)"));
            }
        }
        let Some(better) = m.better else {
            return Err(self
                .err(m.name.span(), format!("{at}.better"), format!("metric `{name}` does not say which direction is better"))
                .with_hint("add `better = \"lower\"` (times, latencies) or `better = \"higher\"` (throughputs)"));
        };
        Ok(MetricSpec {
            name: name.clone(),
            regex: m.regex.as_ref().map(|r| r.get_ref().clone()),
            source: m.source.unwrap_or(Stream::Stdout),
            unit: m.unit.clone(),
            better,
            reduce: m.reduce.unwrap_or(Reduce::Mean),
            required: m.required.unwrap_or(true),
            exact: m.exact.unwrap_or(false),
        })
    }

    /// A `gemm` or `copy` workload: its fields become the arguments of `rigor probe`.
    /// A field not written takes the workload's or a variant's parameter of the same name
    /// when there is one (so `params.dtype = [...]` sweeps the dtype), else its default.
    fn probe_workload(
        &self,
        at: &str,
        probe: crate::define::fields::Probe,
        span: Range<usize>,
        common: RawProbeCommon,
        table: &BTreeMap<String, Spanned<toml::Value>>,
        variants: &[Variant],
    ) -> Result<(Workload, RawCommandWorkload)> {
        let name = self.check_name(&common.name, &format!("{at}.name"))?;
        let params = self.sweep(&common.params, at)?;
        let shared = ["name", "kind", "description", "env", "params"];
        for (k, v) in table {
            if shared.contains(&k.as_str()) || probe.fields().iter().any(|f| f.name == k) {
                continue;
            }
            let names = probe.fields().iter().map(|f| f.name).chain(shared);
            let mut e = self.err(
                v.span(),
                format!("{at}.{k}"),
                format!("a `{}` workload has no field `{k}`", probe.name()),
            );
            e = e.with_hint(match closest(k, names) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "its fields are: {}",
                    probe
                        .fields()
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            return Err(e);
        }
        let mut argv = vec!["rigor".to_string(), "probe".into(), probe.name().into()];
        for f in probe.fields() {
            let field = format!("{at}.{}", f.name);
            let value = match table.get(f.name) {
                Some(v) => {
                    let s = match v.get_ref() {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(_) | toml::Value::Boolean(_) => {
                            v.get_ref().to_string()
                        }
                        other => {
                            return Err(self.err(
                                v.span(),
                                field,
                                format!(
                                    "expected a string or a number, found {}",
                                    other.type_str()
                                ),
                            ));
                        }
                    };
                    if template::placeholders(&s).is_empty() {
                        (f.check)(&s).map_err(|e| {
                            self.err(v.span(), field.clone(), e.0).with_hint(f.help)
                        })?;
                    }
                    s
                }
                None if params.contains_key(f.name)
                    || variants.iter().any(|v| v.params.contains_key(f.name)) =>
                {
                    format!("{{{}}}", f.name)
                }
                None => match f.default {
                    Some(d) => d.to_string(),
                    None => {
                        return Err(self
                            .err(
                                span.start..span.start + 1,
                                field,
                                format!("missing field `{}` ({})", f.name, f.help),
                            )
                            .with_hint(format!(
                                "add `{} = ...` to the workload, or sweep it with `params.{} = [...]`",
                                f.name, f.name
                            )));
                    }
                },
            };
            // Swept values of a parameter used as a whole field are checked here, not at run time.
            if let Some(p) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}'))
                && let Some(values) = params.get(p)
            {
                for v in values {
                    (f.check)(&v.to_string()).map_err(|e| {
                        self.err(common.params[p].span(), format!("{at}.params.{p}"), e.0)
                            .with_hint(f.help)
                    })?;
                }
            }
            argv.push(format!("--{}", f.name));
            argv.push(value);
        }
        if probe == crate::define::fields::Probe::LlmServe {
            let given = |f: &str| {
                table
                    .get(f)
                    .is_some_and(|v| v.get_ref().as_str().is_none_or(|s| !s.is_empty()))
                    || params.contains_key(f)
                    || variants.iter().any(|v| v.params.contains_key(f))
            };
            if !given("url") && !given("server_command") {
                return Err(self
                    .err(span.start..span.start + 1, at.to_string(), "an llm-serve workload needs a server: `url` or `server_command`")
                    .with_hint("`url = \"http://127.0.0.1:8000\"` for a running server, or `server_command = \"… --port {port}\"` for one started fresh for each trial"));
            }
        }
        let metrics = probe
            .metrics()
            .iter()
            .map(|&(name, unit, better, required)| MetricSpec {
                name: name.into(),
                regex: None,
                source: Stream::Stdout,
                unit: Some(unit.into()),
                better: if better == "lower" {
                    Better::Lower
                } else {
                    Better::Higher
                },
                reduce: Reduce::Mean,
                required,
                exact: false,
            })
            .collect();
        let command = CommandWorkload {
            command: CommandTemplate::Argv(argv.clone()),
            shell: ShellMode::Never,
            env: self.env(&common.env, &format!("{at}.env"))?,
            workdir: None,
            json_metrics: true,
            metrics,
        };
        let kind = match probe {
            crate::define::fields::Probe::Gemm => WorkloadKind::Gemm(command),
            crate::define::fields::Probe::Copy => WorkloadKind::Copy(command),
            crate::define::fields::Probe::LlmServe => WorkloadKind::LlmServe(command),
        };
        let raw = RawCommandWorkload {
            name: common.name,
            kind: probe.name().into(),
            description: common.description.clone(),
            command: Spanned::new(
                span,
                toml::Value::Array(argv.into_iter().map(toml::Value::String).collect()),
            ),
            shell: None,
            env: common.env,
            workdir: None,
            params: common.params,
            json_metrics: Some(true),
            metric: Vec::new(),
        };
        Ok((
            Workload {
                name,
                description: common.description,
                params,
                kind,
            },
            raw,
        ))
    }

    fn telemetry(&self, t: Option<&Spanned<RawTelemetry>>) -> Result<Telemetry> {
        let mut out = Telemetry::default();
        let Some(t) = t else { return Ok(out) };
        let t = t.get_ref();
        if let Some(i) = &t.interval {
            let d = self.duration(i, "telemetry.interval")?;
            if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
                return Err(self
                    .err(i.span(), "telemetry.interval", format!("an interval of {} is out of range", humantime::format_duration(d)))
                    .with_hint("sample every 10ms to 60s; NVML's own counters update about every 10-20 ms, so faster sampling only repeats values"));
            }
            out.interval = d;
        }
        if let Some(g) = &t.gpu {
            out.gpu = match g.get_ref() {
                toml::Value::Boolean(true) => GpuTelemetry::On,
                toml::Value::Boolean(false) => GpuTelemetry::Off,
                toml::Value::String(s) if s == "auto" => GpuTelemetry::Auto,
                other => {
                    return Err(self
                        .err(g.span(), "telemetry.gpu", format!("expected true, false or \"auto\", found {other}"))
                        .with_hint("\"auto\" samples GPUs when NVML is present; true makes its absence a missing metric in every trial"));
                }
            };
        }
        for g in t.gpus.iter().flatten() {
            match g.get_ref() {
                toml::Value::Integer(i) if *i >= 0 => out.gpus.push(i.to_string()),
                toml::Value::String(s) if s.starts_with("GPU-") || s.starts_with("MIG-") => {
                    out.gpus.push(s.clone())
                }
                other => {
                    return Err(self
                        .err(g.span(), "telemetry.gpus", format!("`{other}` is not a GPU index or UUID"))
                        .with_hint("use NVML indices (as `nvidia-smi` numbers them) or UUIDs such as \"GPU-5d1c...\"; `rigor env` lists them"));
                }
            }
        }
        out.host = t.host.unwrap_or(out.host);
        out.flag_throttle = t.flag_throttle.unwrap_or(out.flag_throttle);
        out.flag_foreign_processes = t
            .flag_foreign_processes
            .unwrap_or(out.flag_foreign_processes);
        out.pcie = t.pcie.unwrap_or(out.pcie);
        Ok(out)
    }

    fn lanes(&self, l: Option<&Spanned<RawLanes>>) -> Result<Option<Lanes>> {
        let Some(l) = l else { return Ok(None) };
        let span = l.span();
        let l = l.get_ref();
        let devices = match (&l.gpus, &l.cpus) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(self
                    .err(span, "experiment.lanes", "lanes are either GPUs or CPU sets")
                    .with_hint("write `lanes = { gpus = [0, 1] }` (or \"all\") for GPU work, or `lanes = { cpus = [\"0-7\", \"8-15\"] }` for CPU work"));
            }
            (Some(g), None) => match g.get_ref() {
                toml::Value::String(s) if s == "all" => LaneDevices::AllGpus,
                toml::Value::Array(items) => {
                    let mut gpus = Vec::new();
                    for item in items {
                        let id = match item {
                            toml::Value::Integer(i) if *i >= 0 => i.to_string(),
                            toml::Value::String(s)
                                if s.starts_with("GPU-") || s.starts_with("MIG-") =>
                            {
                                s.clone()
                            }
                            other => {
                                return Err(self
                                    .err(g.span(), "experiment.lanes.gpus", format!("`{other}` is not a GPU index or UUID"))
                                    .with_hint("use NVML indices (as `nvidia-smi` numbers them) or UUIDs such as \"GPU-5d1c...\"; `rigor env` lists them"));
                            }
                        };
                        if gpus.contains(&id) {
                            return Err(self
                                .err(
                                    g.span(),
                                    "experiment.lanes.gpus",
                                    format!("GPU {id} is named twice"),
                                )
                                .with_hint("each lane has a GPU of its own"));
                        }
                        gpus.push(id);
                    }
                    if gpus.is_empty() {
                        return Err(self
                            .err(g.span(), "experiment.lanes.gpus", "no GPU is named")
                            .with_hint("name at least one GPU, or \"all\""));
                    }
                    LaneDevices::Gpus(gpus)
                }
                other => {
                    return Err(self
                        .err(g.span(), "experiment.lanes.gpus", format!("expected a list of GPUs or \"all\", found {other}"))
                        .with_hint("e.g. `gpus = [0, 1]`, or `gpus = \"all\"` for every GPU of the machine"));
                }
            },
            (None, Some(c)) => {
                let mut sets: Vec<Vec<usize>> = Vec::new();
                for s in c {
                    let Some(cpus) = crate::define::fields::parse_cpu_list(s.get_ref()) else {
                        return Err(self
                            .err(s.span(), "experiment.lanes.cpus", format!("`{}` is not a CPU list", s.get_ref()))
                            .with_hint("CPU numbers and ranges as taskset writes them, e.g. \"0-7\" or \"0,2,4-6\""));
                    };
                    if let Some(prev) = sets.iter().find(|p| p.iter().any(|c| cpus.contains(c))) {
                        let shared: Vec<String> = prev
                            .iter()
                            .filter(|c| cpus.contains(c))
                            .map(|c| c.to_string())
                            .collect();
                        return Err(self
                            .err(
                                s.span(),
                                "experiment.lanes.cpus",
                                format!("CPU {} is in two lanes", shared.join(", ")),
                            )
                            .with_hint("lanes run side by side: give each a CPU set of its own"));
                    }
                    sets.push(cpus);
                }
                if c.is_empty() {
                    return Err(self
                        .err(span, "experiment.lanes.cpus", "no CPU set is named")
                        .with_hint("e.g. `cpus = [\"0-7\", \"8-15\"]`"));
                }
                LaneDevices::Cpus(c.iter().map(|s| s.get_ref().trim().to_string()).collect())
            }
        };
        let numa = match &l.numa {
            Some(n) if *n.get_ref() && matches!(devices, LaneDevices::Cpus(_)) => {
                return Err(self
                    .err(
                        n.span(),
                        "experiment.lanes.numa",
                        "numa pins a GPU lane to its GPU's CPUs; CPU lanes are pinned already",
                    )
                    .with_hint("remove `numa`, or use `gpus`"));
            }
            Some(n) => *n.get_ref(),
            None => false,
        };
        Ok(Some(Lanes {
            devices,
            numa,
            isolation: l
                .isolation
                .unwrap_or(crate::define::config::DEFAULT_ISOLATION_TRIALS),
        }))
    }

    fn gate(&self, g: Option<&Spanned<RawGate>>) -> Result<Option<Gate>> {
        let Some(g) = g else { return Ok(None) };
        let span = g.span();
        let g = g.get_ref();
        if let Some(t) = &g.gpu_temp_below_c
            && !(1.0..=120.0).contains(t.get_ref())
        {
            return Err(self
                .err(t.span(), "gate.gpu_temp_below_c", format!("{} °C is not a usable GPU temperature limit", t.get_ref()))
                .with_hint("idle data-centre GPUs sit at 25-45 °C; a limit such as 50 lets each trial start from a similar state"));
        }
        let no_foreign = g.no_foreign_processes.unwrap_or(true);
        if g.gpu_temp_below_c.is_none() && !no_foreign {
            return Err(self
                .err(span, "gate", "this gate waits for nothing")
                .with_hint(
                    "set `gpu_temp_below_c`, or `no_foreign_processes = true`, or remove [gate]",
                ));
        }
        let timeout = match &g.timeout {
            Some(t) => self.duration(t, "gate.timeout")?,
            None => Duration::from_secs(600),
        };
        Ok(Some(Gate {
            gpu_temp_below_c: g.gpu_temp_below_c.as_ref().map(|t| *t.get_ref()),
            no_foreign_processes: no_foreign,
            timeout,
        }))
    }

    /// Every placeholder resolves in every (variant, workload) pair, every sweep parameter is
    /// used, and no variant fixes a parameter that a workload sweeps.
    /// Refuses a design too large to plan before anything is built: a sweep of 10^9 cells
    /// would exhaust memory in `plan` long before it could be run.
    fn check_size(
        &self,
        variants: &[Variant],
        workloads: &[Workload],
        raws: &[RawCommandWorkload],
        per_cell: u64,
        trials_at: Option<&Spanned<toml::Value>>,
    ) -> Result<()> {
        let mut cells: u64 = 0;
        let mut largest: Option<(u64, usize)> = None;
        for (i, w) in workloads.iter().enumerate() {
            let points = w
                .params
                .values()
                .fold(1u64, |n, v| n.saturating_mul(v.len().max(1) as u64));
            let here = points.saturating_mul(variants.len() as u64);
            if largest.is_none_or(|(n, _)| here > n) {
                largest = Some((here, i));
            }
            cells = cells.saturating_add(here);
        }
        if cells > MAX_CELLS {
            let (n, i) = largest.unwrap_or((cells, 0));
            let raw = &raws[i];
            let span = raw
                .params
                .values()
                .next()
                .map_or(raw.name.span(), |p| p.span());
            return Err(self
                .err(
                    span,
                    format!("{}.params", workload_field(raws, raw)),
                    format!(
                        "the design has {} cells (this workload alone {} across {} variant(s)); rigor plans at most {}",
                        fmt_count(cells),
                        fmt_count(n),
                        variants.len(),
                        fmt_count(MAX_CELLS)
                    ),
                )
                .with_hint("sweep fewer values per parameter, or split the sweep into several experiments (each parameter's values multiply)"));
        }
        let trials = cells.saturating_mul(per_cell);
        if trials > MAX_TRIALS {
            let span = trials_at.map_or(0..0, |t| t.span());
            return Err(self
                .err(
                    span,
                    "experiment.trials",
                    format!(
                        "{} cells × {per_cell} trials each is {} trials; rigor runs at most {}",
                        fmt_count(cells),
                        fmt_count(trials),
                        fmt_count(MAX_TRIALS)
                    ),
                )
                .with_hint("fewer trials per cell (adaptive `trials = { min, max }` runs only what each comparison needs), or fewer cells"));
        }
        Ok(())
    }

    fn check_params_against_variants(
        &self,
        variants: &[Variant],
        raw_variants: &[Spanned<RawVariant>],
        workloads: &[Workload],
        raws: &[RawCommandWorkload],
    ) -> Result<()> {
        for (w, raw) in workloads.iter().zip(raws) {
            let cw = w.kind.command();
            let mut templates: Vec<(&str, Range<usize>, String)> = Vec::new();
            match &cw.command {
                CommandTemplate::Line(s) => {
                    templates.push((s, raw.command.span(), "command".into()))
                }
                CommandTemplate::Argv(a) => templates.extend(
                    a.iter()
                        .map(|s| (s.as_str(), raw.command.span(), "command".into())),
                ),
            }
            for (k, v) in &cw.env {
                templates.push((v, raw.env[k].span(), format!("env.{k}")));
            }
            let wat = format!("workload `{}`", w.name);
            let serves = matches!(w.kind, WorkloadKind::LlmServe(_));
            let builtin =
                |ph: &str| BUILTIN_PLACEHOLDERS.contains(&ph) || (serves && ph == PORT_PLACEHOLDER);
            for (vi, v) in variants.iter().enumerate() {
                let rv = raw_variants.get(vi);
                for k in v.params.keys() {
                    if w.params.contains_key(k) {
                        let span = rv
                            .map(|r| r.get_ref().params[k].span())
                            .unwrap_or(raw.name.span());
                        return Err(self
                            .err(span, format!("variant[{vi}].params.{k}"), format!("variant `{}` fixes `{k}`, which {wat} sweeps", v.name))
                            .with_hint("a parameter is either swept by the workload or set by each variant, not both"));
                    }
                }
                let mut vt: Vec<(&str, Range<usize>, String)> = templates.clone();
                if let Some(rv) = rv {
                    let rv = rv.get_ref();
                    for (k, val) in &v.env {
                        vt.push((val, rv.env[k].span(), format!("variant[{vi}].env.{k}")));
                    }
                    for p in &v.prefix {
                        vt.push((
                            p,
                            rv.prefix.as_ref().map(|p| p.span()).unwrap_or(0..0),
                            format!("variant[{vi}].prefix"),
                        ));
                    }
                }
                for (t, span, field) in vt {
                    let full_field = || {
                        if field.starts_with("variant") {
                            field.clone()
                        } else {
                            format!("{}.{field}", workload_field(raws, raw))
                        }
                    };
                    let known_name = |ph: &str| {
                        w.params.contains_key(ph) || v.params.contains_key(ph) || builtin(ph)
                    };
                    if let Some((at, name)) = template::unclosed(t, known_name) {
                        return Err(self
                            .err(
                                self.inner_span(span.clone(), t, at, name.len() + 1),
                                full_field(),
                                format!("`{{{name}` is never closed"),
                            )
                            .with_hint(format!("write `{{{name}}}` for the parameter, or `{{{{{name}` for a literal brace")));
                    }
                    for ph in template::placeholders(t) {
                        if ph == PORT_PLACEHOLDER && !serves && !known_name(ph) {
                            let at = t.find("{port}").unwrap_or(0);
                            return Err(self
                                .err(
                                    self.inner_span(span.clone(), t, at, 6),
                                    full_field(),
                                    format!("`{{port}}` is not filled in in {wat}: only an llm-serve workload's `server_command` gets a free port"),
                                )
                                .with_hint("pick the port yourself (a parameter, e.g. `params = { port = [8080] }`), or write `{{port}}` for a literal brace"));
                        }
                        let known = known_name(ph);
                        if !known {
                            let mut names: Vec<&str> = w
                                .params
                                .keys()
                                .chain(v.params.keys())
                                .map(|s| s.as_str())
                                .collect();
                            names.extend(BUILTIN_PLACEHOLDERS);
                            if serves {
                                names.push(PORT_PLACEHOLDER);
                            }
                            let field = full_field();
                            let at = t.find(&format!("{{{ph}}}")).unwrap_or(0);
                            let hint = match closest(ph, names.iter().copied()) {
                                Some(c) => format!(
                                    "did you mean `{{{c}}}`? (write `{{{{{ph}}}}}` for a literal brace)"
                                ),
                                None => format!(
                                    "known here: {}; define it in the workload's `params` or the variant's `params` (write `{{{{{ph}}}}}` for a literal brace)",
                                    names
                                        .iter()
                                        .map(|n| format!("{{{n}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                            return Err(self
                                .err(
                                    self.inner_span(span, t, at, ph.len() + 2),
                                    field,
                                    format!(
                                        "`{{{ph}}}` is not a parameter of {wat} with variant `{}`",
                                        v.name
                                    ),
                                )
                                .with_hint(hint));
                        }
                    }
                }
            }
            for k in w.params.keys() {
                let used = templates
                    .iter()
                    .any(|(t, _, _)| template::placeholders(t).contains(&k.as_str()))
                    || variants.iter().any(|v| {
                        v.env
                            .values()
                            .chain(v.prefix.iter())
                            .any(|t| template::placeholders(t).contains(&k.as_str()))
                    });
                if !used {
                    return Err(self
                        .err(raw.params[k].span(), format!("{}.params.{k}", workload_field(raws, raw)), format!("parameter `{k}` is swept but never used"))
                        .with_hint(format!("put `{{{k}}}` in the command or an env value; rigor does not export parameters as environment variables, because a changed environment size alone can shift timings")));
                }
            }
        }
        Ok(())
    }
}

fn workload_field(raws: &[RawCommandWorkload], raw: &RawCommandWorkload) -> String {
    let i = raws.iter().position(|r| std::ptr::eq(r, raw)).unwrap_or(0);
    format!("workload[{i}]")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The dotted path of the key or value with the tightest span around `span`. Every node is
/// visited, because a `[table]`'s own span covers only its header, not its body.
fn field_at(table: &DeTable<'_>, span: &Range<usize>) -> String {
    fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
        outer.start <= inner.start && inner.end <= outer.end
    }
    fn visit(
        value: &DeValue<'_>,
        path: &str,
        span: &Range<usize>,
        best: &mut Option<(usize, String)>,
    ) {
        fn consider(
            s: Range<usize>,
            p: String,
            span: &Range<usize>,
            best: &mut Option<(usize, String)>,
        ) {
            if holds(&s, span) && best.as_ref().is_none_or(|(w, _)| s.len() <= *w) {
                *best = Some((s.len(), p));
            }
        }
        match value {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    let p = join(path, k.get_ref());
                    consider(k.span(), p.clone(), span, best);
                    consider(v.span(), p.clone(), span, best);
                    visit(v.get_ref(), &p, span, best);
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    consider(v.span(), p.clone(), span, best);
                    visit(v.get_ref(), &p, span, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    visit(&DeValue::Table(table.clone()), "", span, &mut best);
    best.map(|(_, p)| p).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTORS: &str = r#"
[[factor]]
name = "cache"
values = ["on", "off"]
env = { APP_CACHE = "{value}" }

[[factor]]
name = "threads"
values = [8, 1, 2]
prefix = ["taskset", "-c", "0-{value}"]

[[workload]]
name = "w"
kind = "command"
command = "app --cache {cache} --threads {threads}"
"#;

    fn parse(design: &str) -> Experiment {
        let text = format!("[experiment]\nname = \"f\"\n{design}\n{FACTORS}");
        parse_experiment(Path::new("f.toml"), &text).unwrap()
    }

    #[test]
    fn pcie_counters_can_be_turned_off_without_changing_the_hash_of_files_that_do_not() {
        let off = parse("[telemetry]\npcie = false");
        assert!(!off.telemetry.pcie);
        let on = parse("");
        assert!(on.telemetry.pcie);
        // A run recorded before the setting existed hashes the same and still resumes.
        let json = serde_json::to_string(&on.telemetry).unwrap();
        assert!(!json.contains("pcie"), "{json}");
        assert!(
            serde_json::to_string(&off.telemetry)
                .unwrap()
                .contains("\"pcie\":false")
        );
    }

    #[test]
    fn factors_generate_a_full_factorial_or_an_ablation() {
        let full = parse("design = \"factorial\"");
        let names: Vec<&str> = full.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cache-on_threads-8",
                "cache-on_threads-1",
                "cache-on_threads-2",
                "cache-off_threads-8",
                "cache-off_threads-1",
                "cache-off_threads-2"
            ]
        );
        assert_eq!(full.baseline, "cache-on_threads-8");
        let ablation = parse("design = \"ablation\"");
        let names: Vec<&str> = ablation.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["baseline", "cache-off", "threads-1", "threads-2"]);
        assert_eq!(ablation.baseline, "baseline");
        let off = &ablation.variants[1];
        assert_eq!(off.env["APP_CACHE"], "off");
        assert_eq!(off.params["threads"], ParamValue::Int(8));
        assert_eq!(off.prefix, ["taskset", "-c", "0-8"]);
    }

    #[test]
    fn a_factor_with_one_value_is_refused() {
        let text = "[experiment]\nname = \"f\"\n[[factor]]\nname = \"x\"\nvalues = [1]\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"echo {x}\"\n";
        let e = parse_experiment(Path::new("f.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("factor[0].values") && e.contains("at least two values"),
            "{e}"
        );
    }
}
