//! From stored trials to per-cell summaries, comparisons against the baseline, and the
//! validity warnings a reader must see. Pure: takes [`RunData`], returns [`Analysis`].
//!
//! Only final, successful, measured trials enter the statistics; every other trial is
//! counted and named in a warning instead.

pub mod adaptive;
pub mod claims;
pub mod diff;
pub mod history;
pub mod lanes;
pub mod samples;
pub mod words;
use crate::plan::{Cell, Phase};
use crate::stats::compare::{Compared, Direction, Settings, conclude, infer_in_family, p_eq};
use crate::stats::describe::{Description, describe};
use crate::store::{RunData, TrialRow, TrialStatus};
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct MetricSummary {
    pub unit: Option<String>,
    pub better: Option<String>,
    #[serde(flatten)]
    pub desc: Description,
    /// Per-trial values in run order (what the statistics were computed from).
    pub values: Vec<f64>,
    /// Successful trials that did not report this metric.
    pub missing: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    pub cell: Cell,
    pub planned: u32,
    pub ok: u32,
    pub failed: u32,
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// A variant against the baseline on one metric of one workload sweep point.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub workload: String,
    pub sweep: BTreeMap<String, crate::define::config::ParamValue>,
    pub metric: String,
    pub unit: Option<String>,
    pub better: Option<String>,
    pub variant: String,
    pub baseline: String,
    pub n_variant: usize,
    pub n_baseline: usize,
    pub mean_variant: f64,
    pub mean_baseline: f64,
    /// Ratio of means, variant / baseline; absent when the baseline mean is 0.
    pub ratio: Option<f64>,
    /// CIs, tests, effect sizes, equivalence and power, or why not; and the verdict.
    #[serde(flatten)]
    pub result: Compared,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveSummary {
    pub rule: String,
    pub cells: Vec<crate::analyse::adaptive::CellDecision>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub kind: &'static str,
    pub message: String,
    /// What to do about it.
    pub advice: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub experiment: String,
    pub run_id: i64,
    pub run_status: String,
    pub baseline: String,
    pub trials_per_cell: u32,
    pub unit_of_replication: &'static str,
    pub settings: Settings,
    pub cells: Vec<CellSummary>,
    pub comparisons: Vec<Comparison>,
    /// With adaptive stopping: the rule and where each cell ended, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveSummary>,
    /// The experiment's `[[hypothesis]]` claims and their verdicts, in file order.
    pub claims: Vec<crate::analyse::claims::ClaimResult>,
    /// With lanes: per-lane means, the lane and lane × variant tests, the isolation check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanes: Option<crate::analyse::lanes::LaneAnalysis>,
    pub warnings: Vec<Warning>,
}

/// Trials that enter the statistics.
pub fn included(t: &TrialRow) -> bool {
    t.is_final && t.phase == Phase::Measure && t.status == TrialStatus::Ok
}

/// How a metric reads: its declared direction, else lower-is-better for a time unit.
pub fn direction(better: Option<&str>, unit: Option<&str>) -> Direction {
    let time = is_time_unit(unit);
    Direction {
        lower_is_better: match better {
            Some("lower") => Some(true),
            Some("higher") => Some(false),
            _ => time.then_some(true),
        },
        time,
    }
}

fn is_time_unit(unit: Option<&str>) -> bool {
    matches!(unit, Some("s" | "ms" | "us" | "µs" | "ns" | "min" | "h"))
}

fn trial_label(t: &TrialRow) -> String {
    format!("{} #{}", t.cell_key, t.index + 1)
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > max {
        s.push_str(&format!("; and {} more", items.len() - max));
    }
    s
}

/// A metric's unit, direction and per-trial values, gathered across a cell's trials.
type UnitBetterValues = (Option<String>, Option<String>, Vec<f64>);

/// Each cell's final measured trials, reduced to one summary per metric (failed trials
/// counted, not included).
pub fn summarize_cells(
    data: &RunData,
    settings: &Settings,
    trials_per_cell: u32,
) -> Vec<CellSummary> {
    let mut cells = Vec::new();
    for cell in &data.cells {
        let trials: Vec<&TrialRow> = data
            .trials
            .iter()
            .filter(|t| t.cell_key == cell.key && t.phase == Phase::Measure && t.is_final)
            .collect();
        let ok: Vec<&TrialRow> = trials.iter().copied().filter(|t| included(t)).collect();
        let failed = trials.len() - ok.len();
        let mut per_metric: BTreeMap<String, UnitBetterValues> = BTreeMap::new();
        for t in &ok {
            for m in &t.metrics {
                let e = per_metric
                    .entry(m.name.clone())
                    .or_insert_with(|| (m.unit.clone(), m.better.clone(), Vec::new()));
                e.2.push(m.value);
            }
        }
        let metrics = per_metric
            .into_iter()
            .filter_map(|(name, (unit, better, values))| {
                let desc = describe(&values, settings.confidence)?;
                let missing = ok.len() - values.len();
                Some((
                    name,
                    MetricSummary {
                        unit,
                        better,
                        desc,
                        values,
                        missing,
                    },
                ))
            })
            .collect();
        cells.push(CellSummary {
            cell: cell.clone(),
            planned: trials_per_cell,
            ok: ok.len() as u32,
            failed: failed as u32,
            metrics,
        });
    }
    cells
}

/// The adaptive rule's decision for every cell, as the report will make it, without the
/// rest of the analysis (the runner asks between rounds). None: the run is not adaptive.
pub fn adaptive_decisions(data: &RunData) -> Option<Vec<crate::analyse::adaptive::CellDecision>> {
    let exp: serde_json::Value = serde_json::from_str(&data.run.experiment_json).ok()?;
    let rule =
        serde_json::from_value::<crate::define::config::Adaptive>(exp["adaptive"].clone()).ok()?;
    let baseline = exp["baseline"].as_str().unwrap_or_default();
    let trials_per_cell = exp["trials"].as_u64().unwrap_or(0) as u32;
    let settings: Settings = serde_json::from_value(exp["analysis"].clone()).unwrap_or_default();
    let cells = summarize_cells(data, &settings, trials_per_cell);
    Some(crate::analyse::adaptive::decide(
        &cells,
        baseline,
        &rule,
        trials_per_cell,
        &settings,
    ))
}

pub fn analyze(data: &RunData) -> Analysis {
    let exp: serde_json::Value =
        serde_json::from_str(&data.run.experiment_json).unwrap_or_default();
    let baseline = exp["baseline"].as_str().unwrap_or_default().to_string();
    let trials_per_cell = exp["trials"].as_u64().unwrap_or(0) as u32;
    let settings: Settings = serde_json::from_value(exp["analysis"].clone()).unwrap_or_default();
    let seed = exp["seed"].as_u64().unwrap_or(0);

    let mut warnings = Vec::new();
    let cells = summarize_cells(data, &settings, trials_per_cell);

    // Trials another tool measured: rigor's statistics hold, its measuring guarantees do not.
    if let Some(tool) = exp["imported"]["tool"].as_str() {
        warnings.push(Warning {
            kind: "imported",
            message: format!(
                "these trials were measured by {tool}, not by rigor ({}): the order was {tool}'s, not randomised across variants; nothing was sampled during them (no telemetry, no throttling or foreign-process checks); the measuring machine's environment is not recorded",
                exp["imported"]["file"].as_str().unwrap_or("an imported file")
            ),
            advice: "read the verdicts as rigor's statistics on another tool's numbers; for its guarantees, run the same commands as a rigor experiment (`rigor compare` for commands)".into(),
        });
    }
    // Failed trials: named, with their reasons.
    let failed: Vec<String> = data
        .trials
        .iter()
        .filter(|t| t.is_final && t.phase == Phase::Measure && t.status != TrialStatus::Ok)
        .map(|t| {
            format!(
                "{} ({})",
                trial_label(t),
                t.reason.as_deref().unwrap_or(t.status.as_str())
            )
        })
        .collect();
    if !failed.is_empty() {
        warnings.push(Warning {
            kind: "failed-trials",
            message: format!("{} measured trial(s) failed and are excluded from the statistics: {}", failed.len(), list(&failed, 8)),
            advice: "read the trials' logs (paths in the CSV/JSON), fix the cause, and rerun with --new-run; results with failures excluded can be biased if failures depend on the variant".into(),
        });
    }
    let retried = data.trials.iter().filter(|t| !t.is_final).count();
    if retried > 0 {
        warnings.push(Warning {
            kind: "retried-trials",
            message: format!("{retried} attempt(s) failed and were retried; only each trial's last attempt counts"),
            advice: "flaky trials can hide a real problem: check the failed attempts' reasons in the store".into(),
        });
    }
    let short: Vec<String> = cells
        .iter()
        .filter(|c| c.ok < c.planned)
        .map(|c| format!("{} ({} of {})", c.cell.key, c.ok, c.planned))
        .collect();
    if !short.is_empty() {
        warnings.push(Warning {
            kind: "incomplete-cells",
            message: format!(
                "{} cell(s) have fewer successful trials than planned: {}",
                short.len(),
                list(&short, 8)
            ),
            advice: if data.run.status == "complete" {
                "failed trials reduce n; rerun with --new-run once the cause is fixed".into()
            } else {
                "the run did not finish: run the same `rigor run` command again to resume".into()
            },
        });
    }
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut no_gpu: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in data.trials.iter().filter(|t| included(t)) {
        for (name, reason) in &t.missing {
            // Telemetry readings are summarised in their own table; only a GPU that could
            // not be read at all is a validity problem.
            if crate::run::telemetry::is_telemetry_metric(name) {
                if name == "gpu.power_w.mean" {
                    no_gpu
                        .entry(reason.clone())
                        .or_default()
                        .push(trial_label(t));
                }
                continue;
            }
            missing
                .entry(format!("`{name}`: {reason}"))
                .or_default()
                .push(trial_label(t));
        }
    }
    for (what, trials) in missing {
        warnings.push(Warning {
            kind: "missing-metric",
            message: format!("metric {what}, in {} trial(s): {}", trials.len(), list(&trials, 5)),
            advice: "a metric absent from some trials is summarised over the rest only; check the program's output".into(),
        });
    }
    for (why, trials) in no_gpu {
        warnings.push(Warning {
            kind: "telemetry-missing",
            message: format!("no GPU readings in {} trial(s) ({why}): {}", trials.len(), list(&trials, 5)),
            advice: "GPU power, energy, clocks and throttling of those trials are unknown; run where NVML works, or set `[telemetry] gpu = false` if the GPU is not part of the question".into(),
        });
    }
    let mut flagged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in data.trials.iter().filter(|t| included(t)) {
        for f in &t.flags {
            let kind = f.split(':').next().unwrap_or("flag").to_string();
            flagged.entry(kind).or_default().push(format!(
                "{} ({})",
                trial_label(t),
                f.split_once(": ").map_or(f.as_str(), |x| x.1)
            ));
        }
    }
    for (kind, trials) in flagged {
        let (what, advice) = match kind.as_str() {
            "throttle" => (
                "the GPU slowed its clocks for power or heat",
                "throttled trials measure the cooling or the power cap as much as the code: add a [gate] with gpu_temp_below_c, a cooldown, or report the throttling with the result",
            ),
            "foreign-process" => (
                "another process used the GPU",
                "a shared GPU makes timings depend on the other tenant: stop it, or add [gate] no_foreign_processes = true",
            ),
            "telemetry-sparse" => (
                "telemetry had too few samples for the readings it reports",
                "run longer trials, or a shorter [telemetry] interval; the trials' GPU levels describe a few instants, not the trial",
            ),
            _ => ("flagged", "read those trials' logs"),
        };
        warnings.push(Warning {
            kind: if kind == "throttle" {
                "gpu-throttled"
            } else if kind == "foreign-process" {
                "gpu-shared"
            } else if kind == "telemetry-sparse" {
                "telemetry-sparse"
            } else {
                "flagged-trials"
            },
            message: format!("{what} in {} trial(s): {}", trials.len(), list(&trials, 4)),
            advice: advice.into(),
        });
    }
    let mut implausible = Vec::new();
    for t in data.trials.iter().filter(|t| included(t)) {
        for m in &t.metrics {
            // CPU time is counted in scheduler ticks: a short process honestly reads 0 s.
            let cpu_time = matches!(m.name.as_str(), "user_time" | "sys_time");
            let zero_time = m.value <= 0.0
                && !cpu_time
                && (is_time_unit(m.unit.as_deref()) || m.name == "wall_time");
            let zero_rate = m.value == 0.0 && m.better.as_deref() == Some("higher");
            if zero_time || zero_rate {
                implausible.push(format!("{}: {} = {}", trial_label(t), m.name, m.value));
            }
        }
    }
    if !implausible.is_empty() {
        warnings.push(Warning {
            kind: "implausible-values",
            message: format!("{} implausible value(s) (zero or negative times, zero throughput): {}", implausible.len(), list(&implausible, 8)),
            advice: "a trial that 'ran' in 0 ms or produced nothing usually did not do the work: check its logs before trusting any comparison".into(),
        });
    }
    // `exact = true`: a count that must not vary. Identical is expected; different values,
    // within a cell or between the variants at one workload and sweep point, mean the
    // trials did different work.
    let exact = exact_metrics(&exp);
    let mut differs = Vec::new();
    for c in &cells {
        for (name, m) in c.metrics.iter().filter(|(n, _)| exact.contains(*n)) {
            if m.desc.stats.min != m.desc.stats.max {
                differs.push(format!(
                    "{} {name} from {} to {} across its trials",
                    c.cell.key, m.desc.stats.min, m.desc.stats.max
                ));
            }
            for o in cells.iter().filter(|o| {
                o.cell.variant > c.cell.variant
                    && o.cell.workload == c.cell.workload
                    && o.cell.sweep == c.cell.sweep
            }) {
                if let Some(om) = o.metrics.get(name)
                    && (om.desc.stats.min != m.desc.stats.min
                        || om.desc.stats.max != m.desc.stats.max)
                    && m.desc.stats.min == m.desc.stats.max
                    && om.desc.stats.min == om.desc.stats.max
                {
                    differs.push(format!(
                        "{name} = {} in {} but {} in {}",
                        m.desc.stats.min, c.cell.key, om.desc.stats.min, o.cell.key
                    ));
                }
            }
        }
    }
    if !differs.is_empty() {
        warnings.push(Warning {
            kind: "exact-differs",
            message: format!("a count declared exact differs, so the trials did different work: {}", list(&differs, 8)),
            advice: "compare only like with like: find why the work differs (an input, a length limit, an early stop) before reading any ratio".into(),
        });
    }
    let mut constant = Vec::new();
    for c in &cells {
        for (name, m) in c.metrics.iter().filter(|(n, _)| !exact.contains(*n)) {
            // Zero of a lower-is-better count (errors, failures) is constant by nature;
            // a zero time is caught above as implausible.
            let zero_count = m.desc.stats.max == 0.0 && m.better.as_deref() == Some("lower");
            if m.desc.stats.n >= 3
                && m.desc.stats.min == m.desc.stats.max
                && !zero_count
                && !crate::define::config::is_reserved_metric(name)
            {
                constant.push(format!("{} {name} = {}", c.cell.key, m.desc.stats.min));
            }
        }
    }
    if !constant.is_empty() {
        warnings.push(Warning {
            kind: "identical-values",
            message: format!("metric identical in every trial (a stub or a cached result?): {}", list(&constant, 8)),
            advice: "real measurements vary; check that the program measures rather than prints a fixed number".into(),
        });
    }
    // An open-loop client that fell behind its schedule measured a lighter, later load. A
    // `max_concurrency` cap holds requests back by design (its argument is in the argv).
    let capped = |t: &crate::store::TrialRow| {
        t.argv
            .windows(2)
            .any(|w| w[0] == "--max_concurrency" && w[1] != "0" && !w[1].is_empty())
    };
    let behind: Vec<String> = data
        .trials
        .iter()
        .filter(|t| included(t) && !capped(t))
        .filter_map(|t| {
            let p99 = t
                .metrics
                .iter()
                .find(|m| m.name == "llm.send_lag_ms.p99")?
                .value;
            (p99 > crate::run::workload::llm::metrics::BEHIND_P99_MS)
                .then(|| format!("{} (p99 {p99:.1} ms)", trial_label(t)))
        })
        .collect();
    if !behind.is_empty() {
        warnings.push(Warning {
            kind: "client-behind",
            message: format!(
                "{} trial(s) sent requests later than their schedule (send lag p99 above {} ms): {}",
                behind.len(),
                crate::run::workload::llm::metrics::BEHIND_P99_MS,
                list(&behind, 5)
            ),
            advice: "the server saw a lighter, later load than the one asked for: the client's machine is too busy (or, with a remote server, connections were slow to open: see the requests' `connect_ms`); give it more CPUs, lower the rate, or read `llm.ttft_sched_ms` (latency from the schedule)".into(),
        });
    }
    let stragglers: Vec<String> = data
        .trials
        .iter()
        .filter(|t| t.notes.iter().any(|n| n.contains("left processes")))
        .map(trial_label)
        .collect();
    if !stragglers.is_empty() {
        warnings.push(Warning {
            kind: "leftover-processes",
            message: format!("{} trial(s) left processes running after they exited; rigor killed them: {}", stragglers.len(), list(&stragglers, 5)),
            advice: "background processes of one trial can disturb the next; make the program wait for its children".into(),
        });
    }
    let thin: Vec<String> = cells
        .iter()
        .filter(|c| c.ok == 1)
        .map(|c| c.cell.key.clone())
        .collect();
    if !thin.is_empty() {
        warnings.push(Warning {
            kind: "too-few-trials",
            message: format!(
                "{} cell(s) have a single successful trial, so no spread can be estimated: {}",
                thin.len(),
                list(&thin, 5)
            ),
            advice: "run at least 2 trials per cell (5 or more for a comparison worth reporting)"
                .into(),
        });
    }

    warnings.extend(drift_and_outlier_warnings(&cells, &settings));
    let lanes = crate::analyse::lanes::analyze(data, &cells, &settings, &mut warnings);
    let comparisons = compare_to_baseline(&cells, &baseline, &settings, &exact, seed);
    let adaptive = serde_json::from_value::<crate::define::config::Adaptive>(exp["adaptive"].clone())
        .ok()
        .map(|rule| {
            let decisions = crate::analyse::adaptive::decide(
                &cells,
                &baseline,
                &rule,
                trials_per_cell,
                &settings,
            );
            // Whatever stopped them (max, the budget, an interruption).
            let unsettled: Vec<String> = decisions
                .iter()
                .filter(|d| d.unsettled)
                .map(|d| format!("{} (n = {})", d.cell, d.finished))
                .collect();
            if !unsettled.is_empty() {
                warnings.push(Warning {
                    kind: "adaptive-unsettled",
                    message: format!(
                        "{} cell(s) stopped before their comparisons were clear or within ±{}: {}",
                        unsettled.len(),
                        rule.ci_width,
                        list(&unsettled, 6)
                    ),
                    advice: format!(
                        "the precision asked for was not reached (max = {} trials, or the time budget, or an interrupted run): read those comparisons as inconclusive, or raise max and run again to add trials",
                        rule.max
                    ),
                });
            }
            AdaptiveSummary {
                rule: format!(
                    "at least {trials_per_cell} trials per cell, then rounds of one trial per open cell until each comparison's ratio CI at 1 − α′ (α′ = {:.4}, Pocock's boundary for K = {} looks at α = {}) excludes 1 or lies within the ±{} equivalence margin (unless the maximum would likely show a smaller difference), its CI at 1 − α/K lies within ratio ± {}, or even the maximum would very likely leave it unanswered (futility); at most {} trials{}",
                    crate::analyse::adaptive::look_alpha(&rule, trials_per_cell, settings.alpha),
                    crate::analyse::adaptive::looks(&rule, trials_per_cell),
                    settings.alpha,
                    settings.margin,
                    rule.ci_width,
                    rule.max,
                    if rule.metrics.is_empty() { String::new() } else { format!("; deciding metrics: {}", rule.metrics.join(", ")) }
                ),
                cells: decisions,
            }
        });
    let hypotheses: Vec<crate::define::config::Hypothesis> =
        serde_json::from_value(exp["hypotheses"].clone()).unwrap_or_default();
    let claims = crate::analyse::claims::check(&hypotheses, &cells, &baseline, &settings);
    let inconclusive: Vec<String> = comparisons
        .iter()
        .filter(|c| {
            c.result.inference.as_ref().is_some_and(|i| {
                i.outcome == crate::stats::compare::Outcome::Inconclusive
                    && (!crate::define::config::is_reserved_metric(&c.metric)
                        || settings.compare.contains(&c.metric))
            })
        })
        .map(|c| {
            format!(
                "{} vs {} on {} {}",
                c.variant, c.baseline, c.workload, c.metric
            )
        })
        .collect();
    if !inconclusive.is_empty() {
        warnings.push(Warning {
            kind: "no-difference-unproven",
            message: format!(
                "{} comparison(s) found no significant difference but did not show equivalence either; this is not evidence of \"no overhead\": {}",
                inconclusive.len(),
                list(&inconclusive, 6)
            ),
            advice: format!(
                "to claim \"no difference\", show equivalence within a margin (TOST, [analysis] margin = {}): run the trials the verdict asks for, or state the claim as a [[hypothesis]] with claim = \"equivalent\"",
                settings.margin
            ),
        });
    }
    let noisy: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            let settings = &settings;
            c.metrics.iter().filter_map(move |(name, m)| {
                // None below two values or at a mean of 0: no variation to judge.
                let cv = m.desc.stats.cv.filter(|cv| cv.is_finite())?;
                (cv > settings.max_cv
                    && !summary_only(name, settings)
                    && !matches!(name.as_str(), "user_time" | "sys_time"))
                .then(|| format!("{} {name} (CV {:.0}%)", c.cell.key, cv * 100.0))
            })
        })
        .collect();
    if !noisy.is_empty() {
        warnings.push(Warning {
            kind: "high-variation",
            message: format!(
                "{} metric(s) vary by more than {:.0}% (coefficient of variation) across trials: {}",
                noisy.len(),
                settings.max_cv * 100.0,
                list(&noisy, 6)
            ),
            advice: "noise this large hides real differences: look for interference (other jobs, frequency scaling, thermal state), pin CPUs or GPUs, add warm-up, or raise [analysis] max_cv if the workload is inherently variable".into(),
        });
    }
    Analysis {
        experiment: data.run.experiment.clone(),
        run_id: data.run.id,
        run_status: data.run.status.clone(),
        baseline,
        trials_per_cell,
        unit_of_replication: "trial: each trial is one fresh process; samples inside a trial are reduced to one value per trial before any statistic",
        settings,
        cells,
        comparisons,
        adaptive,
        claims,
        lanes,
        warnings,
    }
}

/// Trends over run order and severe outliers, per cell and metric.
fn drift_and_outlier_warnings(cells: &[CellSummary], s: &Settings) -> Vec<Warning> {
    let (mut drift, mut severe) = (Vec::new(), Vec::new());
    for c in cells {
        for (name, m) in &c.metrics {
            if let Some(d) = m.desc.drift.filter(|d| d.p < s.alpha / 5.0) {
                drift.push(format!(
                    "{} {name}: {} over run order (Mann–Kendall {}, tau = {:.2})",
                    c.cell.key,
                    if d.s > 0.0 { "rising" } else { "falling" },
                    p_eq("p", d.p),
                    d.tau
                ));
            }
            // Quartiles of fewer than 10 values are too coarse for fences worth a warning.
            if let Some(o) = m
                .desc
                .outliers
                .as_ref()
                .filter(|o| !o.severe.is_empty() && m.values.len() >= 10)
            {
                let which: Vec<String> = o.severe.iter().map(|i| format!("#{}", i + 1)).collect();
                severe.push(format!(
                    "{} {name}: {} beyond 3 IQR (measured trials {})",
                    c.cell.key,
                    o.severe.len(),
                    which.join(", ")
                ));
            }
        }
    }
    let mut out = Vec::new();
    if !drift.is_empty() {
        out.push(Warning {
            kind: "drift",
            message: format!("values trend over run order: {}", list(&drift, 5)),
            advice: "a trend means the machine changed during the run (thermal state, caches, background load); use order = \"randomized\" or \"interleaved\", add warm-up trials or cooldown, and check the environment".into(),
        });
    }
    if !severe.is_empty() {
        out.push(Warning {
            kind: "severe-outliers",
            message: format!("severe outliers (kept in the statistics): {}", list(&severe, 5)),
            advice: "read those trials' logs; if a known disturbance caused them, fix it and rerun rather than dropping values".into(),
        });
    }
    out
}

impl Analysis {
    /// The comparison of `cell`'s variant with the baseline on `metric`, if there is one.
    pub fn comparison(&self, cell: &Cell, metric: &str) -> Option<&Comparison> {
        self.comparisons.iter().find(|x| {
            x.metric == metric
                && x.variant == cell.variant
                && x.workload == cell.workload
                && x.sweep == cell.sweep
        })
    }
}

/// The metrics the experiment declares `exact = true`, from its stored form.
fn exact_metrics(exp: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if o.get("exact") == Some(&serde_json::Value::Bool(true))
                    && let Some(n) = o.get("name").and_then(|n| n.as_str())
                {
                    out.insert(n.to_string());
                }
                o.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&exp["workloads"], &mut out);
    out
}

/// The metrics that speak for a workload (adaptive stopping, `diff --fail-on`, `history`):
/// its own, the ones rigor does not measure itself, with the telemetry `compare` names;
/// where it has none, `wall_time` if it has that.
pub fn own_or_wall_time<'a>(
    names: impl IntoIterator<Item = &'a str>,
    compare: &[String],
) -> Vec<String> {
    let names: Vec<&str> = names.into_iter().collect();
    let mut own: Vec<String> = Vec::new();
    for n in &names {
        let mine = !crate::define::config::is_reserved_metric(n) || compare.iter().any(|c| c == n);
        if mine && !own.iter().any(|o| o == n) {
            own.push(n.to_string());
        }
    }
    if own.is_empty() && names.contains(&"wall_time") {
        own.push("wall_time".into());
    }
    own
}

/// Whether `name` is only summarised (telemetry not listed in `[analysis] compare`), not
/// compared with the baseline.
pub fn summary_only(name: &str, settings: &Settings) -> bool {
    crate::run::telemetry::is_telemetry_metric(name) && !settings.compare.iter().any(|c| c == name)
}

/// Metrics in display order: the user's own first, then the telemetry ones `compare` asks
/// for, then rigor's built-ins; the rest of telemetry is reported separately.
pub fn metric_names(cells: &[&CellSummary], compare: &[String]) -> Vec<String> {
    let mut user: Vec<String> = Vec::new();
    for c in cells {
        for name in c.metrics.keys() {
            if !crate::define::config::is_reserved_metric(name) && !user.contains(name) {
                user.push(name.clone());
            }
        }
    }
    user.sort();
    for name in compare {
        if cells.iter().any(|c| c.metrics.contains_key(name)) && !user.contains(name) {
            user.push(name.clone());
        }
    }
    for b in crate::define::config::BUILTIN_METRICS {
        if cells.iter().any(|c| c.metrics.contains_key(b)) {
            user.push(b.to_string());
        }
    }
    user
}

/// Workloads in first-appearance order.
pub fn workloads(cells: &[CellSummary]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.contains(&c.cell.workload) {
            out.push(c.cell.workload.clone());
        }
    }
    out
}

/// Index of the baseline's cell at `c`'s workload and sweep point.
pub fn baseline_of(cells: &[CellSummary], c: &CellSummary, baseline: &str) -> Option<usize> {
    cells.iter().position(|b| {
        b.cell.variant == baseline
            && b.cell.workload == c.cell.workload
            && b.cell.sweep == c.cell.sweep
    })
}

/// A stable per-comparison seed, so bootstrap intervals do not change between reports.
fn comparison_seed(seed: u64, parts: &[&str]) -> u64 {
    // FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`).
    let mut h: u64 = 0xcbf29ce484222325 ^ seed;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Each non-baseline cell against the baseline cell at the same workload sweep point, with
/// p-values adjusted over each metric's family of comparisons.
fn compare_to_baseline(
    cells: &[CellSummary],
    baseline: &str,
    settings: &Settings,
    exact: &std::collections::BTreeSet<String>,
    seed: u64,
) -> Vec<Comparison> {
    // Every comparison first, so that each knows the size of its metric's family (the
    // test chosen depends on what can survive the correction).
    let mut pending: Vec<(&CellSummary, &CellSummary, &String)> = Vec::new();
    for c in cells.iter().filter(|c| c.cell.variant != baseline) {
        let Some(b) = baseline_of(cells, c, baseline).map(|i| &cells[i]) else {
            continue;
        };
        for name in c.metrics.keys() {
            // A count declared exact is the work done, not a result: `exact-differs` checks
            // it, and a test of two constant samples would only say it cannot be made.
            if b.metrics.contains_key(name)
                && !summary_only(name, settings)
                && !exact.contains(name)
            {
                pending.push((c, b, name));
            }
        }
    }
    let mut family_size: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, name) in &pending {
        *family_size.entry(name.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for (c, b, name) in pending {
        let (m, bm) = (&c.metrics[name], &b.metrics[name]);
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(comparison_seed(seed, &[&c.cell.key, name]));
        let family = family_size[name.as_str()];
        out.push(Comparison {
            workload: c.cell.workload.clone(),
            sweep: c.cell.sweep.clone(),
            metric: name.clone(),
            unit: m.unit.clone(),
            better: m.better.clone(),
            variant: c.cell.variant.clone(),
            baseline: baseline.to_string(),
            n_variant: m.desc.stats.n,
            n_baseline: bm.desc.stats.n,
            mean_variant: m.desc.stats.mean,
            mean_baseline: bm.desc.stats.mean,
            ratio: (bm.desc.stats.mean != 0.0).then(|| m.desc.stats.mean / bm.desc.stats.mean),
            result: infer_in_family(&bm.values, &m.values, settings, family, &mut rng).into(),
        });
    }
    // One family per metric: each metric answers its own question, and within it every
    // variant × workload × sweep point is a comparison the reader may single out.
    let metrics: std::collections::BTreeSet<String> =
        out.iter().map(|c| c.metric.clone()).collect();
    for metric in &metrics {
        let mut family: Vec<(&str, Direction, &mut Compared)> = out
            .iter_mut()
            .filter(|c| &c.metric == metric)
            .map(|c| {
                let dir = direction(c.better.as_deref(), c.unit.as_deref());
                (c.variant.as_str(), dir, &mut c.result)
            })
            .collect();
        conclude(&mut family, settings);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredMetric;

    fn metric(name: &str, value: f64, unit: &str) -> StoredMetric {
        StoredMetric {
            name: name.into(),
            value,
            unit: Some(unit.into()),
            better: Some("lower".into()),
            n_samples: 1,
        }
    }

    fn data(metrics: Vec<Vec<StoredMetric>>) -> RunData {
        let cell = Cell {
            key: "a/w".into(),
            variant: "a".into(),
            workload: "w".into(),
            params: BTreeMap::new(),
            sweep: BTreeMap::new(),
        };
        let trials = metrics
            .into_iter()
            .enumerate()
            .map(|(i, metrics)| TrialRow {
                id: i as i64,
                session_id: 1,
                cell_key: "a/w".into(),
                phase: Phase::Measure,
                index: i as u32,
                seq: i as u64,
                attempt: 1,
                is_final: true,
                status: TrialStatus::Ok,
                reason: None,
                exit_code: Some(0),
                started_at: String::new(),
                wall_s: None,
                argv: Vec::new(),
                stdout_log: None,
                stderr_log: None,
                notes: Vec::new(),
                flags: Vec::new(),
                metrics,
                missing: Vec::new(),
                lane: None,
                lane_device: None,
            })
            .collect();
        RunData {
            run: crate::store::tests::a_run_row(r#"{"baseline":"a","trials":2}"#, 2),
            sessions: Vec::new(),
            cells: vec![cell],
            trials,
        }
    }

    fn kinds(a: &Analysis) -> Vec<&str> {
        a.warnings.iter().map(|w| w.kind).collect()
    }

    #[test]
    fn zero_cpu_time_of_a_short_process_is_not_implausible() {
        let trial = || {
            vec![
                metric("wall_time", 0.0005, "s"),
                metric("user_time", 0.0, "s"),
                metric("sys_time", 0.0, "s"),
            ]
        };
        let a = analyze(&data(vec![trial(), trial()]));
        assert!(a.warnings.is_empty(), "{:?}", kinds(&a));
    }

    #[test]
    fn a_zero_duration_is_flagged() {
        let a = analyze(&data(vec![
            vec![metric("latency", 0.0, "ms")],
            vec![metric("latency", 1.0, "ms")],
        ]));
        // A 0 next to a 1 is also noise far above max_cv.
        assert_eq!(kinds(&a), ["implausible-values", "high-variation"]);
        assert!(
            a.warnings[0].message.contains("a/w #1: latency = 0"),
            "{}",
            a.warnings[0].message
        );
    }
}
