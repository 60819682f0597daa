//! Metrics a trial's program reports: JSON lines and regex captures on its output, reduced
//! from samples to one value per trial. A metric that cannot be read is *missing, with the
//! reason*, never zero.

use crate::define::config::{Better, CommandWorkload, MetricSpec, Reduce, Stream};
pub use crate::trial::MetricValue;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extraction {
    pub values: BTreeMap<String, MetricValue>,
    /// Metrics that were expected or announced but could not be read, with why.
    pub missing: Vec<(String, String)>,
    /// Problems that make the trial's output untrustworthy: the trial fails with these.
    pub errors: Vec<String>,
}

struct Acc {
    samples: Vec<f64>,
    unit: Option<String>,
    better: Option<Better>,
    reduce: Reduce,
    invalid: Vec<String>,
    /// A program's own statement that it could not measure this, and why.
    missing_reason: Option<String>,
}

pub fn reduce(samples: &[f64], how: Reduce) -> f64 {
    match how {
        // Overflow-safe: 10^4 samples near 1e305 have a finite mean.
        Reduce::Mean => crate::stats::moments::mean(samples),
        Reduce::Sum => samples.iter().sum(),
        Reduce::Min => samples.iter().copied().fold(f64::INFINITY, f64::min),
        Reduce::Max => samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduce::First => samples[0],
        Reduce::Last => samples[samples.len() - 1],
        Reduce::Median => {
            let mut s = samples.to_vec();
            s.sort_by(f64::total_cmp);
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                s[n / 2 - 1] / 2.0 + s[n / 2] / 2.0
            }
        }
    }
}

fn parse_json_line(line: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let t = line.trim();
    if !t.starts_with('{') || !t.contains("\"metric\"") {
        return None;
    }
    let parsed = match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v) => v,
        // NaN, Infinity or 1e400: not JSON numbers; read the line with them as text.
        Err(_) => serde_json::from_str(&quote_nonfinite(t)?).ok()?,
    };
    match parsed {
        serde_json::Value::Object(m) if m.contains_key("metric") => Some(m),
        _ => None,
    }
}

/// Marks a value that was a non-finite number in the program's output.
const NONFINITE: &str = "\u{0}nonfinite:";

/// The line with every number JSON cannot hold as an f64 — Python's `NaN`, `Infinity`
/// and `-Infinity` (what `json.dumps` writes for them), and literals beyond f64's range
/// such as `1e400` — turned into a marked string of its text, so that the metric is
/// recorded as missing with the offending value shown instead of the line vanishing.
/// None when the line holds no such value (it is broken in some other way).
fn quote_nonfinite(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let (mut i, mut changed, mut in_str) = (0, false, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' && i + 1 < b.len() {
                out.push_str(&line[i..i + 2]);
                i += 2;
                continue;
            }
            in_str = c != b'"';
            out.push(c as char);
            i += 1;
            continue;
        }
        if c == b'"' {
            in_str = true;
            out.push('"');
            i += 1;
            continue;
        }
        let word_end = |from: usize| {
            from + b[from..]
                .iter()
                .position(|&x| !(x.is_ascii_alphanumeric() || b"+-.".contains(&x)))
                .unwrap_or(b.len() - from)
        };
        if c == b'-' || c == b'N' || c == b'I' || c.is_ascii_digit() {
            let end = word_end(i);
            let word = &line[i..end];
            let nonfinite = matches!(word, "NaN" | "Infinity" | "-Infinity" | "-NaN")
                || word.parse::<f64>().is_ok_and(|v| v.is_infinite());
            if nonfinite {
                // The marker's NUL, escaped as JSON requires inside a string.
                out.push_str("\"\\u0000nonfinite:");
                out.push_str(word);
                out.push('"');
                changed = true;
            } else {
                out.push_str(word);
            }
            i = end.max(i + 1);
            continue;
        }
        out.push(c as char);
        i += 1;
    }
    changed.then_some(out)
}

/// How a value that is not a finite number reads in a reason.
fn describe_value(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "absent".to_string(),
        Some(serde_json::Value::String(s)) => match s.strip_prefix(NONFINITE) {
            Some(text) => format!("{text} (not a finite number)"),
            None => format!("{s:?} (a string, not a number)"),
        },
        Some(other) => other.to_string(),
    }
}

/// A workload's metric extraction with its regexes compiled once, not once per trial.
pub struct Extractor<'w> {
    w: &'w CommandWorkload,
    regexes: Vec<(&'w MetricSpec, regex::Regex)>,
}

/// One-shot extraction (compiles the regexes each call).
pub fn extract(w: &CommandWorkload, stdout: &str, stderr: &str) -> Extraction {
    Extractor::new(w).extract(stdout, stderr)
}

impl<'w> Extractor<'w> {
    pub fn new(w: &'w CommandWorkload) -> Self {
        let regexes = w
            .metrics
            .iter()
            .filter_map(|spec| {
                let re = regex::Regex::new(spec.regex.as_deref()?)
                    .expect("validated when the experiment file was read");
                Some((spec, re))
            })
            .collect();
        Extractor { w, regexes }
    }

    pub fn extract(&self, stdout: &str, stderr: &str) -> Extraction {
        let w = self.w;
        let mut out = Extraction::default();
        let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
        let declared = |name: &str| w.metrics.iter().find(|m| m.name == name);

        if w.json_metrics {
            for (lineno, line) in stdout.lines().enumerate() {
                let Some(obj) = parse_json_line(line) else {
                    continue;
                };
                let Some(name) = obj
                    .get("metric")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                else {
                    out.errors.push(format!(
                        "stdout line {}: `metric` must be a string",
                        lineno + 1
                    ));
                    continue;
                };
                let spec = declared(&name).filter(|s| s.regex.is_none());
                if crate::define::config::is_reserved_metric(&name) {
                    out.errors.push(format!(
                    "stdout line {}: `{name}` is measured by rigor itself; report it under another name",
                    lineno + 1
                ));
                    continue;
                }
                let unit = obj.get("unit").and_then(|v| v.as_str()).map(str::to_string);
                let better = match obj.get("better").and_then(|v| v.as_str()) {
                    Some("lower") => Some(Better::Lower),
                    Some("higher") => Some(Better::Higher),
                    Some(other) => {
                        out.errors.push(format!(
                        "stdout line {}: metric `{name}` has better = {other:?}; use \"lower\" or \"higher\"",
                        lineno + 1
                    ));
                        continue;
                    }
                    None => None,
                };
                let entry = acc.entry(name.clone()).or_insert_with(|| Acc {
                    samples: Vec::new(),
                    unit: spec.and_then(|s| s.unit.clone()).or_else(|| unit.clone()),
                    better: spec.map(|s| s.better).or(better),
                    reduce: spec.map_or(Reduce::Mean, |s| s.reduce),
                    invalid: Vec::new(),
                    missing_reason: None,
                });
                if unit.is_some() && unit != entry.unit {
                    out.errors.push(format!(
                        "stdout line {}: metric `{name}` in {:?}, but {} before",
                        lineno + 1,
                        unit.as_deref().unwrap_or(""),
                        entry
                            .unit
                            .as_deref()
                            .map_or("no unit".to_string(), |u| format!("{u:?}")),
                    ));
                    continue;
                }
                if better.is_some() && better != entry.better {
                    out.errors.push(format!(
                    "stdout line {}: metric `{name}` says better = {:?}, which contradicts its declaration",
                    lineno + 1,
                    better.map(|b| b.to_string()).unwrap_or_default()
                ));
                    continue;
                }
                if let Some(why) = obj.get("missing").and_then(|v| v.as_str())
                    && obj.get("value").is_none_or(|v| v.is_null())
                {
                    entry.missing_reason.get_or_insert_with(|| why.to_string());
                    continue;
                }
                match obj.get("value").and_then(|v| v.as_f64()) {
                    Some(x) if x.is_finite() => entry.samples.push(x),
                    _ => entry.invalid.push(format!(
                        "stdout line {}: value {}",
                        lineno + 1,
                        describe_value(obj.get("value"))
                    )),
                }
            }
        }

        for (spec, re) in &self.regexes {
            let text = match spec.source {
                Stream::Stdout => stdout,
                Stream::Stderr => stderr,
            };
            let entry = acc.entry(spec.name.clone()).or_insert_with(|| Acc {
                samples: Vec::new(),
                unit: spec.unit.clone(),
                better: Some(spec.better),
                reduce: spec.reduce,
                invalid: Vec::new(),
                missing_reason: None,
            });
            for caps in re.captures_iter(text) {
                let m = caps.name("value").or_else(|| caps.get(1));
                let raw = m.map_or("", |m| m.as_str());
                match raw.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() => entry.samples.push(x),
                    _ => entry.invalid.push(format!("captured {raw:?}")),
                }
            }
        }

        for (name, a) in acc {
            if a.samples.is_empty() {
                let reason = if let Some(why) = a.missing_reason {
                    why
                } else if a.invalid.is_empty() {
                    "not reported".to_string()
                } else {
                    format!("no finite value ({})", a.invalid.join("; "))
                };
                out.missing.push((name, reason));
                continue;
            }
            if !a.invalid.is_empty() {
                out.errors.push(format!(
                "metric `{name}` had values that are not finite numbers ({}); the other samples cannot be trusted alone",
                a.invalid.join("; ")
            ));
            }
            let value = reduce(&a.samples, a.reduce);
            if !value.is_finite() {
                out.missing.push((
                    name,
                    format!(
                        "the {} of its {} samples is beyond f64's range",
                        format!("{:?}", a.reduce).to_lowercase(),
                        a.samples.len()
                    ),
                ));
                continue;
            }
            out.values.insert(
                name,
                MetricValue {
                    value,
                    unit: a.unit,
                    better: a.better,
                    samples: if a.samples.len() > 1 {
                        a.samples
                    } else {
                        Vec::new()
                    },
                },
            );
        }

        for spec in &w.metrics {
            if out.values.contains_key(&spec.name)
                || out.missing.iter().any(|(n, _)| n == &spec.name)
            {
                continue;
            }
            out.missing.push((spec.name.clone(), not_found(spec)));
        }
        for (name, reason) in &mut out.missing {
            if let Some(spec) = declared(name) {
                if spec.regex.is_some() && reason == "not reported" {
                    *reason = not_found(spec);
                }
                if spec.required {
                    out.errors
                        .push(format!("required metric `{name}` is missing: {reason}"));
                }
            }
        }
        out
    }
}

fn not_found(spec: &MetricSpec) -> String {
    let stream = match spec.source {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    match &spec.regex {
        Some(r) => format!("regex {r:?} matched nothing on {stream}"),
        None => "no JSON line {\"metric\": ...} reported it on stdout".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::config::{CommandTemplate, ShellMode};
    use std::collections::BTreeMap;

    fn workload(metrics: Vec<MetricSpec>) -> CommandWorkload {
        CommandWorkload {
            command: CommandTemplate::Line("true".into()),
            shell: ShellMode::Auto,
            env: BTreeMap::new(),
            workdir: None,
            json_metrics: true,
            metrics,
        }
    }

    fn spec(name: &str, regex: Option<&str>, required: bool) -> MetricSpec {
        MetricSpec {
            name: name.into(),
            regex: regex.map(str::to_string),
            source: Stream::Stdout,
            unit: Some("ops/s".into()),
            better: Better::Higher,
            reduce: Reduce::Mean,
            required,
            exact: false,
        }
    }

    #[test]
    fn reads_json_lines_and_reduces_samples() {
        let out = "hello\n{\"metric\":\"lat\",\"value\":1.0,\"unit\":\"ms\",\"better\":\"lower\"}\n{\"metric\":\"lat\",\"value\":3.0,\"unit\":\"ms\"}\n{\"not\":\"a metric\"}\n";
        let e = extract(&workload(vec![]), out, "");
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let lat = &e.values["lat"];
        assert_eq!(lat.value, 2.0);
        assert_eq!(lat.samples, vec![1.0, 3.0]);
        assert_eq!(lat.unit.as_deref(), Some("ms"));
        assert_eq!(lat.better, Some(Better::Lower));
    }

    #[test]
    fn reads_regex_captures_named_or_single() {
        let w = workload(vec![
            spec("rate", Some(r"rate: (?P<value>[0-9.]+)"), true),
            spec("n", Some(r"n=(\d+)"), true),
        ]);
        let e = extract(&w, "rate: 10\nrate: 20\nn=5\n", "");
        assert_eq!(e.values["rate"].value, 15.0);
        assert_eq!(e.values["n"].value, 5.0);
        assert!(e.errors.is_empty());
    }

    #[test]
    fn a_required_metric_that_is_absent_fails_the_trial_with_its_reason() {
        let w = workload(vec![spec("rate", Some(r"rate: (?P<value>[0-9.]+)"), true)]);
        let e = extract(&w, "nothing here\n", "");
        assert!(e.values.is_empty());
        assert_eq!(e.missing.len(), 1);
        assert!(
            e.missing[0].1.contains("matched nothing on stdout"),
            "{:?}",
            e.missing
        );
        assert!(e.errors[0].contains("required metric `rate` is missing"));
    }

    #[test]
    fn an_optional_metric_is_missing_not_zero() {
        let w = workload(vec![spec("rate", Some(r"rate: (?P<value>[0-9.]+)"), false)]);
        let e = extract(&w, "", "");
        assert!(e.errors.is_empty());
        assert!(!e.values.contains_key("rate"));
        assert_eq!(e.missing[0].0, "rate");
    }

    #[test]
    fn non_finite_values_are_missing_with_the_value_shown() {
        let e = extract(
            &workload(vec![]),
            "{\"metric\":\"x\",\"value\":null}\n{\"metric\":\"y\",\"value\":\"NaN\"}\n",
            "",
        );
        assert!(e.values.is_empty());
        assert!(
            e.missing
                .iter()
                .any(|(n, r)| n == "x" && r.contains("value null"))
        );
        assert!(
            e.missing
                .iter()
                .any(|(n, r)| n == "y" && r.contains("\"NaN\""))
        );
    }

    #[test]
    fn contradictory_units_are_an_error() {
        let e = extract(
            &workload(vec![]),
            "{\"metric\":\"x\",\"value\":1,\"unit\":\"ms\"}\n{\"metric\":\"x\",\"value\":1,\"unit\":\"s\"}\n",
            "",
        );
        assert_eq!(e.errors.len(), 1, "{:?}", e.errors);
        assert!(e.errors[0].contains("\"s\""));
    }

    #[test]
    fn reducers_match_their_definitions() {
        let s = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(reduce(&s, Reduce::Median), 2.5);
        assert_eq!(reduce(&s, Reduce::Min), 1.0);
        assert_eq!(reduce(&s, Reduce::Max), 4.0);
        assert_eq!(reduce(&s, Reduce::Sum), 10.0);
        assert_eq!(reduce(&s, Reduce::First), 4.0);
        assert_eq!(reduce(&s, Reduce::Last), 2.0);
        assert_eq!(reduce(&[1.0, 5.0, 3.0], Reduce::Median), 3.0);
    }

    #[test]
    fn non_finite_values_are_missing_with_the_value_shown_never_dropped() {
        // What Python's json.dumps writes for float("nan") and float("inf"), and a literal
        // beyond f64's range.
        let w = workload(vec![]);
        let out = "{\"metric\": \"a\", \"value\": NaN}\n{\"metric\": \"b\", \"value\": -Infinity, \"unit\": \"s\"}\n{\"metric\": \"c\", \"value\": 1e400}\n{\"metric\": \"d\", \"value\": 2.0}\n{\"metric\": \"d\", \"value\": NaN}\n{\"metric\": \"e\", \"value\": \"NaN\"}\n";
        let e = extract(&w, out, "");
        let missing: BTreeMap<_, _> = e.missing.iter().cloned().collect();
        assert!(
            missing["a"].contains("value NaN (not a finite number)"),
            "{missing:?}"
        );
        assert!(missing["b"].contains("-Infinity"), "{missing:?}");
        assert!(missing["c"].contains("1e400"), "{missing:?}");
        assert!(missing["e"].contains("a string"), "{missing:?}");
        // A NaN among good samples: the trial cannot stand on the others alone.
        assert!(
            e.errors
                .iter()
                .any(|x| x.contains("`d`") && x.contains("line 5: value NaN")),
            "{:?}",
            e.errors
        );
        // A declared metric that only got NaN fails the trial, naming the value.
        let w = workload(vec![spec("a", None, true)]);
        let e = extract(&w, "{\"metric\": \"a\", \"value\": NaN}\n", "");
        assert!(
            e.errors
                .iter()
                .any(|x| x.contains("`a` is missing") && x.contains("NaN")),
            "{:?}",
            e.errors
        );
        // Strings that only look like the words stay strings; good lines are untouched.
        assert_eq!(
            quote_nonfinite("{\"metric\": \"NaN Infinity\", \"value\": 1}"),
            None
        );
    }

    #[test]
    fn means_of_huge_samples_do_not_overflow_and_sums_that_do_are_missing() {
        let w = workload(vec![]);
        let line = |v: &str| format!("{{\"metric\": \"m\", \"value\": {v}}}\n");
        let out = line("1.7e308").repeat(4);
        let e = extract(&w, &out, "");
        assert_eq!(e.values["m"].value, 1.7e308);
        let mut s = spec("m", None, false);
        s.reduce = Reduce::Sum;
        let e = extract(&workload(vec![s]), &out, "");
        assert!(
            e.missing[0].1.contains("beyond f64's range"),
            "{:?}",
            e.missing
        );
    }
}
