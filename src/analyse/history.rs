//! `rigor history`: every metric of an experiment across all its runs, in run order, with
//! step changes found on the run-level values (`stats::changepoint`) and the environment
//! change that coincides with each step. Pure: the runs are passed in.

use super::{Settings, summarize_cells};
use crate::stats::changepoint::{Step, steps};
use crate::store::RunData;
use rand::SeedableRng;
use serde::Serialize;

/// Level of each step test (the false-alarm rate of a series without a step).
pub const ALPHA: f64 = 0.05;
/// Permutations per test: p-values to 0.001.
pub const PERMUTATIONS: usize = 999;
/// Fewest runs on each side of a step.
pub const MIN_RUNS: usize = 2;

/// One run's value of a metric in a cell: the mean over its successful trials and the
/// interval of that mean.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub run_id: i64,
    pub started_at: String,
    pub mean: f64,
    pub ci: Option<[f64; 2]>,
    pub n: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepFound {
    /// The first run after the step.
    pub run_id: i64,
    pub before_mean: f64,
    pub after_mean: f64,
    pub p: f64,
    /// (setting, before, after) of the recorded environment between the two runs.
    pub environment: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub cell: String,
    pub metric: String,
    pub unit: Option<String>,
    pub points: Vec<Point>,
    pub steps: Vec<StepFound>,
}

/// The series of every cell and metric over `runs` (oldest first), with their steps.
pub fn history(runs: &[RunData], seed: u64) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for d in runs {
        let exp: serde_json::Value =
            serde_json::from_str(&d.run.experiment_json).unwrap_or_default();
        let settings: Settings =
            serde_json::from_value(exp["analysis"].clone()).unwrap_or_default();
        for c in summarize_cells(d, &settings, 0) {
            for m in super::own_or_wall_time(c.metrics.keys().map(String::as_str), &[]) {
                let Some(ms) = c.metrics.get(&m) else {
                    continue;
                };
                let point = Point {
                    run_id: d.run.id,
                    started_at: d.run.created_at.clone(),
                    mean: ms.desc.stats.mean,
                    ci: ms.desc.mean_ci,
                    n: ms.desc.stats.n,
                };
                match out
                    .iter_mut()
                    .find(|s| s.cell == c.cell.key && s.metric == m)
                {
                    Some(s) => s.points.push(point),
                    None => out.push(Series {
                        cell: c.cell.key.clone(),
                        metric: m.clone(),
                        unit: ms.unit.clone(),
                        points: vec![point],
                        steps: Vec::new(),
                    }),
                }
            }
        }
    }
    for s in &mut out {
        let values: Vec<f64> = s.points.iter().map(|p| p.mean).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let found: Vec<Step> = steps(&values, ALPHA, MIN_RUNS, PERMUTATIONS, &mut rng);
        s.steps = found
            .into_iter()
            .map(|st| {
                let (before, after) = (s.points[st.at - 1].run_id, s.points[st.at].run_id);
                let env = match (
                    runs.iter().find(|r| r.run.id == before),
                    runs.iter().find(|r| r.run.id == after),
                ) {
                    (Some(a), Some(b)) => super::diff::environment_changes(a, b),
                    _ => Vec::new(),
                };
                StepFound {
                    run_id: after,
                    before_mean: st.before_mean,
                    after_mean: st.after_mean,
                    p: st.p,
                    environment: env,
                }
            })
            .collect();
    }
    out
}
