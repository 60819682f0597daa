//! Lanes in the analysis. The lane is a blocking factor: per workload sweep point and
//! metric, a two-way ANOVA of variant × lane on log values (so effects read as ratios)
//! tests whether lanes differ and whether the variants' difference depends on the lane;
//! each lane's cell means are kept for the report. The isolation check compares the
//! isolation cell's trials run alone with its trials beside busy lanes: equivalent within
//! the margin (TOST), different, or not shown either way.

use super::{CellSummary, Warning, list, summary_only};
use crate::plan::Phase;
use crate::stats::compare::Settings;
use crate::store::{RunData, TrialRow};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct LaneAnalysis {
    /// What each lane was, by index (from the trials that ran on it).
    pub lanes: Vec<Option<String>>,
    pub groups: Vec<LaneGroup>,
    pub isolation: Vec<Isolation>,
}

/// One workload sweep point and metric across variants and lanes.
#[derive(Debug, Clone, Serialize)]
pub struct LaneGroup {
    pub workload: String,
    pub sweep: BTreeMap<String, crate::define::config::ParamValue>,
    pub metric: String,
    pub unit: Option<String>,
    /// Every (variant, lane) cell: its trials and mean.
    pub means: Vec<LaneMean>,
    /// Each lane against the mean of the lanes, from the additive model: 1.04 = 4% higher.
    pub lane_ratio: Vec<Option<f64>>,
    /// The ANOVA, or why it could not be made.
    #[serde(serialize_with = "ok_or_reason")]
    pub test: Result<LaneTest, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneMean {
    pub variant: String,
    pub lane: u32,
    pub n: usize,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneTest {
    /// On the log of the values (all positive), else on the values.
    pub log_scale: bool,
    pub lane: crate::stats::anova::Term,
    /// Holm-adjusted over every group's lane test.
    pub lane_p_adjusted: f64,
    pub interaction: Option<crate::stats::anova::Term>,
    pub interaction_p_adjusted: Option<f64>,
    pub residual_df: f64,
}

/// The isolation cell alone against beside busy lanes, on one metric.
#[derive(Debug, Clone, Serialize)]
pub struct Isolation {
    pub cell: String,
    pub metric: String,
    pub n_alone: usize,
    pub n_beside: usize,
    /// The cell's measured trials left out: the other lanes were idle for more than half
    /// of each.
    pub n_not_beside: usize,
    pub mean_alone: f64,
    pub mean_beside: f64,
    /// Beside / alone, with Fieller's interval.
    #[serde(serialize_with = "ok_or_reason")]
    pub ratio: Result<crate::stats::ratio::RatioInterval, String>,
    /// TOST within ±margin.
    pub tost_p: Option<f64>,
    pub margin: f64,
    /// `equivalent`, `differs` or `inconclusive`.
    pub outcome: &'static str,
}

/// The value, or `{"unavailable": why}`: readers see a reason where a number is missing.
fn ok_or_reason<T: Serialize, S: serde::Serializer>(
    r: &Result<T, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match r {
        Ok(v) => v.serialize(s),
        Err(why) => {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("unavailable", why)?;
            m.end()
        }
    }
}

/// The metrics lanes are judged on: the workload's own and those `compare` asks for, else
/// wall time.
fn metrics_of(cells: &[&CellSummary], settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = super::metric_names(cells, &settings.compare)
        .into_iter()
        .filter(|n| !crate::define::config::is_reserved_metric(n) || settings.compare.contains(n))
        .filter(|n| !summary_only(n, settings))
        .collect();
    if names.is_empty() && cells.iter().any(|c| c.metrics.contains_key("wall_time")) {
        names.push("wall_time".into());
    }
    names
}

fn value_of(t: &TrialRow, metric: &str) -> Option<f64> {
    t.metrics.iter().find(|m| m.name == metric).map(|m| m.value)
}

/// None when no trial ran on a lane.
pub fn analyze(
    data: &RunData,
    cells: &[CellSummary],
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Option<LaneAnalysis> {
    let laned: Vec<&TrialRow> = data
        .trials
        .iter()
        .filter(|t| t.lane.is_some() && t.is_final)
        .collect();
    if laned.is_empty() {
        return None;
    }
    let n_lanes = laned.iter().filter_map(|t| t.lane).max().unwrap_or(0) as usize + 1;
    let mut lanes = vec![None; n_lanes];
    for t in &laned {
        if let Some(l) = t.lane {
            lanes[l as usize].clone_from(&t.lane_device);
        }
    }
    let included: Vec<&TrialRow> = laned
        .iter()
        .copied()
        .filter(|t| super::included(t))
        .collect();

    // Sweep points in first-appearance order, each with its cells.
    let mut points: Vec<(&CellSummary, Vec<&CellSummary>)> = Vec::new();
    for c in cells {
        match points
            .iter_mut()
            .find(|(p, _)| p.cell.workload == c.cell.workload && p.cell.sweep == c.cell.sweep)
        {
            Some((_, v)) => v.push(c),
            None => points.push((c, vec![c])),
        }
    }
    let mut groups = Vec::new();
    for (first, group_cells) in &points {
        for metric in metrics_of(group_cells, settings) {
            let mut obs = Vec::new();
            let mut means: BTreeMap<(usize, u32), (String, Vec<f64>)> = BTreeMap::new();
            for (a, c) in group_cells.iter().enumerate() {
                for t in included.iter().filter(|t| t.cell_key == c.cell.key) {
                    let (Some(v), Some(l)) = (value_of(t, &metric), t.lane) else {
                        continue;
                    };
                    obs.push((a, l as usize, v));
                    means
                        .entry((a, l))
                        .or_insert_with(|| (c.cell.variant.clone(), Vec::new()))
                        .1
                        .push(v);
                }
            }
            if obs.is_empty() {
                continue;
            }
            let log_scale = obs.iter().all(|o| o.2 > 0.0);
            let fit: Vec<(usize, usize, f64)> = obs
                .iter()
                .map(|&(a, l, v)| (a, l, if log_scale { v.ln() } else { v }))
                .collect();
            let anova = crate::stats::anova::two_way(&fit);
            let lane_ratio = match &anova {
                Ok(t) if log_scale => (0..n_lanes)
                    .map(|l| {
                        obs.iter()
                            .any(|o| o.1 == l)
                            .then(|| t.b_effects.get(l).map(|e| e.exp()))
                            .flatten()
                    })
                    .collect(),
                _ => vec![None; n_lanes],
            };
            groups.push(LaneGroup {
                workload: first.cell.workload.clone(),
                sweep: first.cell.sweep.clone(),
                unit: first.metrics.get(&metric).and_then(|m| m.unit.clone()),
                metric,
                means: means
                    .into_iter()
                    .map(|((_, lane), (variant, v))| LaneMean {
                        variant,
                        lane,
                        n: v.len(),
                        mean: v.iter().sum::<f64>() / v.len() as f64,
                    })
                    .collect(),
                lane_ratio,
                test: anova
                    .map(|t| LaneTest {
                        log_scale,
                        lane_p_adjusted: t.b.p,
                        interaction_p_adjusted: t.interaction.as_ref().map(|i| i.p),
                        lane: t.b,
                        interaction: t.interaction,
                        residual_df: t.residual_df,
                    })
                    .map_err(|e| e.to_string()),
            });
        }
    }
    adjust(&mut groups, settings);
    lane_warnings(&groups, &lanes, settings, warnings);
    let isolation = isolation(data, cells, settings, warnings);
    Some(LaneAnalysis {
        lanes,
        groups,
        isolation,
    })
}

/// Holm over the family of lane tests, and over the family of interaction tests.
fn adjust(groups: &mut [LaneGroup], settings: &Settings) {
    let lane_p: Vec<f64> = groups
        .iter()
        .filter_map(|g| g.test.as_ref().ok().map(|t| t.lane.p))
        .collect();
    let adj = crate::stats::multiple::adjust(&lane_p, settings.correction);
    let mut it = adj.into_iter();
    for g in groups.iter_mut() {
        if let Ok(t) = &mut g.test
            && let Some(p) = it.next()
        {
            t.lane_p_adjusted = p;
        }
    }
    let inter_p: Vec<f64> = groups
        .iter()
        .filter_map(|g| g.test.as_ref().ok()?.interaction.as_ref().map(|i| i.p))
        .collect();
    let adj = crate::stats::multiple::adjust(&inter_p, settings.correction);
    let mut it = adj.into_iter();
    for g in groups.iter_mut() {
        if let Ok(t) = &mut g.test
            && t.interaction.is_some()
        {
            t.interaction_p_adjusted = it.next();
        }
    }
}

fn lane_warnings(
    groups: &[LaneGroup],
    lanes: &[Option<String>],
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) {
    let name = |l: usize| match lanes.get(l).and_then(|d| d.as_deref()) {
        Some(d) => format!("lane {l} ({d})"),
        None => format!("lane {l}"),
    };
    let mut differ = Vec::new();
    let mut interact = Vec::new();
    for g in groups {
        let Ok(t) = &g.test else { continue };
        let at = format!("{}{}", g.workload, crate::plan::fmt_params(&g.sweep));
        if t.lane_p_adjusted < settings.alpha {
            // The lane furthest from the others' mean, as a percentage.
            let worst = g
                .lane_ratio
                .iter()
                .enumerate()
                .filter_map(|(l, r)| r.map(|r| (l, r)))
                .max_by(|a, b| (a.1 - 1.0).abs().total_cmp(&(b.1 - 1.0).abs()));
            let how = match worst {
                Some((l, r)) => format!(
                    "{} is {:.1}% {} than the lanes' mean",
                    name(l),
                    (r - 1.0).abs() * 100.0,
                    if r > 1.0 { "higher" } else { "lower" }
                ),
                None => "the lanes' means differ".into(),
            };
            differ.push(format!(
                "{at} {}: {how} (F({}, {}) = {:.3}, {})",
                g.metric,
                t.lane.df,
                t.residual_df,
                t.lane.f,
                crate::stats::compare::p_eq("p_adj", t.lane_p_adjusted)
            ));
        }
        if let (Some(i), Some(p)) = (&t.interaction, t.interaction_p_adjusted)
            && p < settings.alpha
        {
            interact.push(format!(
                "{at} {} (F({}, {}) = {:.3}, {})",
                g.metric,
                i.df,
                t.residual_df,
                i.f,
                crate::stats::compare::p_eq("p_adj", p)
            ));
        }
    }
    if !differ.is_empty() {
        warnings.push(Warning {
            kind: "lanes-differ",
            message: format!(
                "the lanes give different results on {} metric(s): {}",
                differ.len(),
                list(&differ, 6)
            ),
            advice: "every variant ran equally often on every lane, so the comparisons stay fair, but an absolute number depends on the lane it ran on: report per-lane means (the report's lane table) and look for the cause (clocks, power limits, PCIe link, NUMA placement, temperature)".into(),
        });
    }
    if !interact.is_empty() {
        warnings.push(Warning {
            kind: "lane-interaction",
            message: format!(
                "the difference between variants depends on the lane on {} metric(s): {}",
                interact.len(),
                list(&interact, 6)
            ),
            advice: "a verdict pooled over lanes averages different effects: read the per-lane means, and check whether one lane's hardware or placement differs".into(),
        });
    }
}

fn isolation(
    data: &RunData,
    cells: &[CellSummary],
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Vec<Isolation> {
    let alone: Vec<&TrialRow> = data
        .trials
        .iter()
        .filter(|t| {
            t.phase == Phase::Isolation && t.is_final && t.status == crate::store::TrialStatus::Ok
        })
        .collect();
    let Some(cell_key) = alone.first().map(|t| t.cell_key.clone()) else {
        return Vec::new();
    };
    let Some(cell) = cells.iter().find(|c| c.cell.key == cell_key) else {
        return Vec::new();
    };
    // Beside busy lanes means beside: a trial of the cell that ran while the other lanes
    // were mostly idle (draining for an alone trial, the run's tail, a resume on one lane)
    // would pull the comparison towards "no interference".
    let spans = spans_by_lane(data);
    let (beside, idle): (Vec<&TrialRow>, Vec<&TrialRow>) = data
        .trials
        .iter()
        .filter(|t| t.cell_key == cell_key && super::included(t))
        .partition(|t| busy_beside(t, &spans));
    let idle = idle.len();
    let mut out = Vec::new();
    // Wall time too: a trial's process (its start, its CUDA context) can be slowed by the
    // lanes beside it while the part it times is not.
    let mut metrics = metrics_of(&[cell], settings);
    if !metrics.iter().any(|m| m == "wall_time") && cell.metrics.contains_key("wall_time") {
        metrics.push("wall_time".into());
    }
    for metric in metrics {
        let a: Vec<f64> = alone.iter().filter_map(|t| value_of(t, &metric)).collect();
        let b: Vec<f64> = beside.iter().filter_map(|t| value_of(t, &metric)).collect();
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let ratio =
            crate::stats::ratio::fieller(&b, &a, settings.confidence).map_err(|e| e.to_string());
        let tost_p = crate::stats::ratio::tost_ratio(&b, &a, settings.margin)
            .ok()
            .map(|t| t.p);
        let excludes_one = matches!(&ratio, Ok(r) if r.lo.is_some_and(|lo| lo > 1.0) || r.hi.is_some_and(|hi| hi < 1.0));
        let outcome = if tost_p.is_some_and(|p| p < settings.alpha) {
            "equivalent"
        } else if excludes_one {
            "differs"
        } else {
            "inconclusive"
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        out.push(Isolation {
            cell: cell_key.clone(),
            metric,
            n_alone: a.len(),
            n_beside: b.len(),
            n_not_beside: idle,
            mean_alone: mean(&a),
            mean_beside: mean(&b),
            ratio,
            tost_p,
            margin: settings.margin,
            outcome,
        });
    }
    let describe = |i: &Isolation| match &i.ratio {
        Ok(r) => format!(
            "{} {}: beside / alone = {:.4} [{}, {}] (n = {} alone, {} beside)",
            i.cell,
            i.metric,
            r.ratio,
            r.lo.map_or("?".into(), |v| format!("{v:.4}")),
            r.hi.map_or("?".into(), |v| format!("{v:.4}")),
            i.n_alone,
            i.n_beside
        ),
        Err(e) => format!("{} {}: {e}", i.cell, i.metric),
    };
    let differs: Vec<String> = out
        .iter()
        .filter(|i| i.outcome == "differs")
        .map(describe)
        .collect();
    let unproven: Vec<String> = out
        .iter()
        .filter(|i| i.outcome == "inconclusive")
        .map(describe)
        .collect();
    if !differs.is_empty() {
        warnings.push(Warning {
            kind: "lane-interference",
            message: format!(
                "trials beside busy lanes measure differently from the same trials alone: {}",
                list(&differs, 6)
            ),
            advice: "the lanes disturb each other (PCIe switch, host memory bandwidth, CPU, power): results from this run hold for a busy node, not an idle one; run with fewer lanes, pin lanes to their NUMA nodes (numa = true), or report the node as loaded".into(),
        });
    }
    if !unproven.is_empty() {
        warnings.push(Warning {
            kind: "isolation-unproven",
            message: format!(
                "the isolation check could not show that lanes leave each other undisturbed (within ±{}): {}",
                settings.margin,
                list(&unproven, 6)
            ),
            advice: "raise [experiment] lanes.isolation (more trials alone) and run again, or read the results as from a busy node".into(),
        });
    }
    out
}

/// Each lane's trial spans (seconds since the epoch), from their start and wall time.
fn spans_by_lane(data: &RunData) -> BTreeMap<u32, Vec<(f64, f64)>> {
    let mut out: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    for t in &data.trials {
        if let (Some(l), Some(span)) = (t.lane, span_of(t)) {
            out.entry(l).or_default().push(span);
        }
    }
    out
}

fn span_of(t: &TrialRow) -> Option<(f64, f64)> {
    let start = humantime::parse_rfc3339_weak(&t.started_at)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some((start, start + t.wall_s?))
}

/// Whether some other lane ran a trial through at least half of `t`'s span.
fn busy_beside(t: &TrialRow, spans: &BTreeMap<u32, Vec<(f64, f64)>>) -> bool {
    let (Some(lane), Some((s, e))) = (t.lane, span_of(t)) else {
        return false;
    };
    if e <= s {
        return false;
    }
    spans.iter().filter(|(l, _)| **l != lane).any(|(_, v)| {
        // A lane runs one trial at a time: its spans do not overlap each other.
        let covered: f64 = v.iter().map(|&(a, b)| (b.min(e) - a.max(s)).max(0.0)).sum();
        covered >= 0.5 * (e - s)
    })
}
