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
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// Lanes as the analysis sees them. A lane of one node is not that lane of another: the
/// shards of a Slurm run, each on its node, have the same lanes. With trials from one host,
/// a lane is its index; from several, each (host, lane) is a lane of its own, numbered in
/// that order and named after both.
struct Places {
    /// Each session's node.
    node_of: HashMap<i64, usize>,
    /// (node, lane index) → lane, with several nodes.
    ids: Option<BTreeMap<(usize, u32), usize>>,
    /// What each lane was.
    names: Vec<Option<String>>,
}

impl Places {
    fn of(data: &RunData, laned: &[&TrialRow]) -> Places {
        let mut hosts: Vec<&str> = Vec::new();
        let mut node_of = HashMap::new();
        for s in &data.sessions {
            // A session that could not read its host name is on a host of its own, "".
            let host = s
                .environment
                .get("hostname")
                .and_then(|h| h.as_str())
                .unwrap_or("");
            let node = hosts.iter().position(|h| *h == host).unwrap_or_else(|| {
                hosts.push(host);
                hosts.len() - 1
            });
            node_of.insert(s.id, node);
        }
        let mut places = Places {
            node_of,
            ids: None,
            names: Vec::new(),
        };
        // The final attempts decide, as they do the lanes' names: a retried attempt alone on
        // another host adds no lane.
        let used: BTreeSet<usize> = laned.iter().map(|t| places.node(t)).collect();
        if used.len() <= 1 {
            let n = laned.iter().filter_map(|t| t.lane).max().unwrap_or(0) as usize + 1;
            places.names = vec![None; n];
            for t in laned {
                if let Some(l) = t.lane {
                    places.names[l as usize].clone_from(&t.lane_device);
                }
            }
            return places;
        }
        // Numbered by node (in the sessions' order), then lane.
        let mut devices: BTreeMap<(usize, u32), Option<&str>> = BTreeMap::new();
        for t in laned {
            if let Some(l) = t.lane {
                let d = devices.entry((places.node(t), l)).or_default();
                if t.lane_device.is_some() {
                    *d = t.lane_device.as_deref();
                }
            }
        }
        let mut ids = BTreeMap::new();
        for (k, ((node, lane), device)) in devices.into_iter().enumerate() {
            ids.insert((node, lane), k);
            let host = match hosts[node] {
                "" => "unknown host",
                h => h,
            };
            places.names.push(Some(match device {
                Some(d) => format!("{host}: {d}"),
                None => format!("{host}: lane {lane}"),
            }));
        }
        places.ids = Some(ids);
        places
    }

    /// The node of the session that ran `t` (the first, should its session be unknown).
    fn node(&self, t: &TrialRow) -> usize {
        self.node_of.get(&t.session_id).copied().unwrap_or(0)
    }

    /// The lane `t` ran on and its node.
    fn at(&self, t: &TrialRow) -> Option<(usize, usize)> {
        let lane = t.lane?;
        let node = self.node(t);
        match &self.ids {
            None => Some((lane as usize, node)),
            Some(ids) => Some((*ids.get(&(node, lane))?, node)),
        }
    }
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
    let places = Places::of(data, &laned);
    let lanes = places.names.clone();
    let n_lanes = lanes.len();
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
                    let (Some(v), Some((l, _))) = (value_of(t, &metric), places.at(t)) else {
                        continue;
                    };
                    obs.push((a, l, v));
                    means
                        .entry((a, l as u32))
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
    let isolation = isolation(data, &places, cells, settings, warnings);
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
    places: &Places,
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
    let spans = spans_by_lane(data, places);
    // Only nodes with alone trials: elsewhere "beside" would also compare nodes.
    let nodes: BTreeSet<usize> = alone
        .iter()
        .filter_map(|t| places.at(t).map(|p| p.1))
        .collect();
    let (beside, idle): (Vec<&TrialRow>, Vec<&TrialRow>) = data
        .trials
        .iter()
        .filter(|t| {
            t.cell_key == cell_key
                && super::included(t)
                && places.at(t).is_some_and(|p| nodes.contains(&p.1))
        })
        .partition(|t| busy_beside(t, places, &spans));
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

/// Each lane's trial spans (seconds since the epoch), from their start and wall time, by
/// (node, lane).
fn spans_by_lane(data: &RunData, places: &Places) -> BTreeMap<(usize, usize), Vec<(f64, f64)>> {
    let mut out: BTreeMap<(usize, usize), Vec<(f64, f64)>> = BTreeMap::new();
    for t in &data.trials {
        if let (Some((lane, node)), Some(span)) = (places.at(t), span_of(t)) {
            out.entry((node, lane)).or_default().push(span);
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

/// Whether some other lane of its node ran a trial through at least half of `t`'s span.
fn busy_beside(
    t: &TrialRow,
    places: &Places,
    spans: &BTreeMap<(usize, usize), Vec<(f64, f64)>>,
) -> bool {
    let (Some((lane, node)), Some((s, e))) = (places.at(t), span_of(t)) else {
        return false;
    };
    if e <= s {
        return false;
    }
    // Another node's lanes are not beside it, however busy.
    let others = spans.range((node, 0)..(node + 1, 0));
    others.filter(|((_, l), _)| *l != lane).any(|(_, v)| {
        // A lane runs one trial at a time: its spans do not overlap each other.
        let covered: f64 = v.iter().map(|&(a, b)| (b.min(e) - a.max(s)).max(0.0)).sum();
        covered >= 0.5 * (e - s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::config::ParamValue;
    use crate::store::{SessionRow, StoredMetric, TrialStatus};

    /// Two nodes (sessions on hosts n1 and n2) with two lanes each; variants a and b, 4
    /// trials of each on every (node, lane). Lane 1 of n2 is 10% slower; trial spans are
    /// given per trial as (start second, wall seconds).
    fn two_nodes(spans: impl Fn(usize, u32, usize) -> (u64, f64)) -> RunData {
        let session = |id: i64, host: &str| SessionRow {
            id,
            started_at: String::new(),
            ended_at: None,
            status: "complete".into(),
            rigor_version: String::new(),
            command_line: String::new(),
            environment: serde_json::json!({ "hostname": host }),
        };
        let cell = |v: &str| crate::plan::Cell {
            key: format!("{v}/w"),
            variant: v.into(),
            workload: "w".into(),
            params: BTreeMap::<String, ParamValue>::new(),
            sweep: BTreeMap::new(),
        };
        let mut trials = Vec::new();
        for (vi, v) in ["a", "b"].iter().enumerate() {
            for node in 0..2usize {
                for lane in 0..2u32 {
                    for k in 0..4usize {
                        let slow = if node == 1 && lane == 1 { 1.1 } else { 1.0 };
                        let value = (10.0 + vi as f64) * slow * (1.0 + 0.001 * k as f64);
                        let (at, wall) = spans(node, lane, k);
                        let id = trials.len() as i64;
                        trials.push(TrialRow {
                            id,
                            session_id: node as i64 + 1,
                            cell_key: format!("{v}/w"),
                            phase: Phase::Measure,
                            index: (node * 8 + lane as usize * 4 + k) as u32,
                            seq: id as u64,
                            attempt: 1,
                            is_final: true,
                            status: TrialStatus::Ok,
                            reason: None,
                            exit_code: Some(0),
                            started_at: humantime::format_rfc3339_millis(
                                std::time::UNIX_EPOCH + std::time::Duration::from_secs(at),
                            )
                            .to_string(),
                            wall_s: Some(wall),
                            argv: Vec::new(),
                            stdout_log: None,
                            stderr_log: None,
                            notes: Vec::new(),
                            flags: Vec::new(),
                            metrics: vec![StoredMetric {
                                name: "score".into(),
                                value,
                                unit: Some("ms".into()),
                                better: Some("lower".into()),
                                n_samples: 1,
                            }],
                            missing: Vec::new(),
                            lane: Some(lane),
                            lane_device: Some(format!("cpus {lane}")),
                        });
                    }
                }
            }
        }
        RunData {
            run: crate::store::tests::a_run_row(r#"{"baseline":"a","trials":16}"#, 32),
            sessions: vec![session(1, "n1"), session(2, "n2")],
            cells: vec![cell("a"), cell("b")],
            trials,
        }
    }

    #[test]
    fn a_lane_of_one_node_is_not_that_lane_of_another() {
        let data =
            two_nodes(|node, lane, k| ((node * 1000 + lane as usize * 100 + k * 10) as u64, 1.0));
        let a = crate::analyse::analyze(&data);
        let lanes = a.lanes.as_ref().unwrap();
        assert_eq!(
            lanes.lanes,
            [
                Some("n1: cpus 0".to_string()),
                Some("n1: cpus 1".to_string()),
                Some("n2: cpus 0".to_string()),
                Some("n2: cpus 1".to_string())
            ]
        );
        let g = &lanes.groups[0];
        // Lane 1 of n2 alone is 10% slower; pooled with n1's lane 1 it would be diluted.
        let r = &g.lane_ratio;
        assert!(r[3].unwrap() > 1.07, "{r:?}");
        assert!(r[..3].iter().all(|x| x.unwrap() < 0.98), "{r:?}");
        let warning = a
            .warnings
            .iter()
            .find(|w| w.kind == "lanes-differ")
            .unwrap();
        assert!(
            warning.message.contains("lane 3 (n2: cpus 1)"),
            "{}",
            warning.message
        );
    }

    #[test]
    fn another_nodes_lane_is_never_beside() {
        // Each trial of n1's lane 0 overlaps a trial of n2's lane 1 only, at the same
        // seconds; n1's lane 1 runs later.
        let spans = |node: usize, lane: u32, k: usize| match (node, lane) {
            (0, 0) | (1, 1) => ((k * 10) as u64, 5.0),
            _ => ((1000 + node * 100 + k * 10) as u64, 5.0),
        };
        let data = two_nodes(spans);
        let places = Places::of(&data, &data.trials.iter().collect::<Vec<_>>());
        let spans = spans_by_lane(&data, &places);
        for t in data
            .trials
            .iter()
            .filter(|t| t.session_id == 1 && t.lane == Some(0))
        {
            assert!(!busy_beside(t, &places, &spans), "{}", t.id);
        }
        // On one node, the same overlap is beside.
        let mut one = two_nodes(spans_of_one_node);
        one.sessions[1].environment = serde_json::json!({ "hostname": "n1" });
        let places = Places::of(&one, &one.trials.iter().collect::<Vec<_>>());
        assert_eq!(places.names.len(), 2);
        let spans = spans_by_lane(&one, &places);
        let t = one.trials.iter().find(|t| t.lane == Some(0)).unwrap();
        assert!(busy_beside(t, &places, &spans));
    }

    #[test]
    fn the_isolation_check_compares_within_the_nodes_that_ran_alone_trials() {
        let mut data = two_nodes(spans_of_one_node);
        // Alone trials of a/w on n1 only, one per lane, long after the rest.
        for lane in 0..2u32 {
            let mut t = data.trials[lane as usize * 4].clone();
            t.id = 100 + lane as i64;
            t.phase = Phase::Isolation;
            t.index = lane;
            t.started_at = humantime::format_rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(5000 + 100 * lane as u64),
            )
            .to_string();
            data.trials.push(t);
        }
        let a = crate::analyse::analyze(&data);
        let iso = &a.lanes.as_ref().unwrap().isolation;
        let score = iso.iter().find(|i| i.metric == "score").unwrap();
        assert_eq!(score.n_alone, 2);
        // a/w's 8 trials on n1, each beside n1's other lane; none of n2's 8.
        assert_eq!((score.n_beside, score.n_not_beside), (8, 0), "{score:?}");
    }

    /// Lane 0 and lane 1 at the same seconds.
    fn spans_of_one_node(_node: usize, _lane: u32, k: usize) -> (u64, f64) {
        ((k * 10) as u64, 5.0)
    }
}
