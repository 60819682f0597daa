//! Adaptive stopping (`trials = { min, max, ci_width }`): which cells still need trials.
//! Pure: decides from the trials' values; the runner runs the rounds.
//!
//! A comparison (variant vs baseline on one metric at one sweep point) is settled when the
//! Fieller interval of its ratio of means, at confidence 1 − α′ (α′ the per-look level of
//! Pocock's group-sequential boundary for the K = max − min + 1 looks the rule can take,
//! so repeated peeking cannot stop on a chance difference),
//! - excludes 1 (**clear**: a difference), or
//! - lies within 1 ± the `[analysis]` margin (**equivalent**), unless `max` trials would
//!   likely show a real difference smaller than the margin;
//!
//! or at 1 − α/K lies within ratio ± ci_width (**precise**: Bonferroni's stricter level, so
//! a chance narrowing does not stop it early);
//!
//! or, from 2·min trials on, when even `max` trials would answer with less than 10%
//! probability under the current estimate (**futile**: such cells are named in the
//! report's `adaptive-unsettled` warning). In simulation the rule used 39% of the trials
//! of a fixed N = 30 with the same verdict in 95.5% of cases (docs/statistics.md, "Adaptive
//! stopping").
//!
//! A cell without a comparison (a single variant) is settled when the CI of its mean lies
//! within mean · (1 ± ci_width). A cell stays open while any of its comparisons is open
//! and it has fewer than `max` finished trials (failed ones count: they cost the time).

use crate::analyse::CellSummary;
use crate::define::config::Adaptive;
use crate::stats::compare::Settings;
use crate::stats::moments::Moments;
use crate::stats::ratio::fieller;
use serde::Serialize;

/// An equivalence stop waits while `max` trials would show a difference with at least
/// this probability.
const DIFFERENCE_AHEAD: f64 = 0.1;

/// A comparison is futile when `max` trials would answer with less than this probability.
const FUTILE: f64 = 0.10;

/// Why a comparison is settled, or that it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Settled {
    Precise,
    Clear,
    /// Values that more trials cannot change: constant in both cells.
    Constant,
    /// Even `max` trials would very likely leave it unanswered.
    Futile,
    /// Within the equivalence margin at the corrected level.
    Equivalent,
    Open,
}

/// Looks the rule can take: one after `min` trials, then one per extra round.
pub fn looks(rule: &Adaptive, min: u32) -> u32 {
    rule.max.saturating_sub(min) + 1
}

/// The two-sided level α′ each look tests at: Pocock's constant boundary for looks after
/// `min`, `min + 1`, …, `max` trials at overall level α (for min = 5, max = 30, α = 0.05:
/// α′ = 0.0089, against Bonferroni's α/26 = 0.0019). Computed once per rule and cached:
/// the runner asks at every round, and solving for the boundary takes ~0.1 s.
pub fn look_alpha(rule: &Adaptive, min: u32, alpha: f64) -> f64 {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    /// (first look, last look, α bits) → α′.
    type Levels = HashMap<(u32, u32, u64), f64>;
    static CACHE: OnceLock<Mutex<Levels>> = OnceLock::new();
    // The file's parser guarantees 2 ≤ min ≤ max.
    let (first, last) = (min, rule.max);
    let key = (first, last, alpha.to_bits());
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(a) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
        return a;
    }
    let a = crate::stats::sequential::pocock_nominal_alpha(first, last, alpha);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, a);
    }
    a
}

/// Whether one comparison is settled, from the two cells' per-trial values.
pub fn comparison(
    baseline: &[f64],
    variant: &[f64],
    rule: &Adaptive,
    min: u32,
    s: &Settings,
) -> Settled {
    if baseline.len() < 2 || variant.len() < 2 {
        return Settled::Open;
    }
    // Tests (clear, equivalent) read the interval at 1 − α′: a rule that peeks K times must
    // not stop on a chance difference.
    let strict = 1.0 - look_alpha(rule, min, s.alpha);
    let Ok(f) = fieller(variant, baseline, strict) else {
        let (a, b) = (Moments::of(variant), Moments::of(baseline));
        return if a.var == 0.0 && b.var == 0.0 {
            Settled::Constant
        } else {
            Settled::Open
        };
    };
    if f.lo.is_some_and(|lo| lo > 1.0) || f.hi.is_some_and(|hi| hi < 1.0) {
        return Settled::Clear;
    }
    let (Some(lo), Some(hi)) = (f.lo, f.hi) else {
        return Settled::Open;
    };
    // Precision reads it at Bonferroni's stricter 1 − α/K, so a chance narrowing does not
    // stop it early.
    let precise = 1.0 - s.alpha / looks(rule, min) as f64;
    // Unbounded at that level: not precise, whatever else holds.
    let half = fieller(variant, baseline, precise)
        .ok()
        .and_then(|p| Some((p.hi? - p.ratio).max(p.ratio - p.lo?)))
        .unwrap_or(f64::INFINITY);
    if half <= rule.ci_width {
        return Settled::Precise;
    }
    let ahead = outlook(baseline, variant, rule, s);
    // Inside the equivalence margin even at the corrected level: "no difference that
    // matters" is the answer, however wide ci_width asked for. Unless `max` trials would
    // likely show a difference (a real one smaller than the margin): the verdict at `max`
    // would then be "different", and stopping would hide it.
    if lo > 1.0 - s.margin
        && hi < 1.0 + s.margin
        && ahead
            .as_ref()
            .is_none_or(|o| o.difference < DIFFERENCE_AHEAD)
    {
        return Settled::Equivalent;
    }
    // Futility, from 2·min trials on: `max` trials could not be precise either (the
    // half-width scales with √(n/max)), and the chance that they show a difference or
    // equivalence is under 10%.
    let n = baseline.len().min(variant.len()) as f64;
    if n >= 2.0 * min as f64
        && half * (n / rule.max as f64).sqrt() > rule.ci_width
        && ahead.is_some_and(|o| o.difference + o.equivalence < FUTILE)
    {
        return Settled::Futile;
    }
    Settled::Open
}

/// What `max` trials would likely show, projected from the trials so far: under the
/// current estimate d of the ratio's distance from 1 and its standard error se at n
/// trials, the estimate at `max` is normal with mean d and variance se²·n·(max − n)/max²
/// (the increments still to come are independent of the trials so far).
struct Outlook {
    /// P(`max` trials show a difference at the report's level).
    difference: f64,
    /// P(`max` trials show equivalence within the `[analysis]` margin).
    equivalence: f64,
}

fn outlook(baseline: &[f64], variant: &[f64], rule: &Adaptive, s: &Settings) -> Option<Outlook> {
    use crate::stats::dist::{norm_cdf, norm_ppf};
    let n = baseline.len().min(variant.len()) as f64;
    let max = rule.max as f64;
    if n >= max {
        return None;
    }
    let g = fieller(variant, baseline, s.confidence).ok()?;
    let (lo, hi) = (g.lo?, g.hi?);
    let z = norm_ppf(0.5 + s.confidence / 2.0);
    let se = (hi - lo) / (2.0 * z);
    let se_max = se * (n / max).sqrt();
    let spread = se * (n * (max - n)).sqrt() / max;
    let d = g.ratio - 1.0;
    // P(|D| > c) and P(|D| < e) for D ~ N(d, spread²).
    let beyond = |c: f64| norm_cdf((d - c) / spread) + norm_cdf((-c - d) / spread);
    let within = |e: f64| {
        if e <= 0.0 {
            0.0
        } else {
            norm_cdf((e - d) / spread) - norm_cdf((-e - d) / spread)
        }
    };
    Some(Outlook {
        difference: beyond(z * se_max),
        equivalence: within(s.margin - norm_ppf(1.0 - s.alpha) * se_max),
    })
}

/// Whether a cell without a comparison has a precise enough mean.
pub fn alone(values: &[f64], rule: &Adaptive, s: &Settings) -> Settled {
    let Ok([lo, hi]) = crate::stats::ci::t_interval(values, s.confidence) else {
        return Settled::Open;
    };
    // A zero-width interval: every value the same.
    if hi == lo {
        return Settled::Constant;
    }
    if (hi - lo) / 2.0 <= rule.ci_width * ((hi + lo) / 2.0).abs() {
        Settled::Precise
    } else {
        Settled::Open
    }
}

/// The metrics that decide for one workload's cells: the rule's, else the user's own
/// metrics, else `wall_time`.
fn deciding(rule: &Adaptive, cells: &[&CellSummary]) -> Vec<String> {
    if !rule.metrics.is_empty() {
        return rule.metrics.clone();
    }
    let names = super::metric_names(cells, &[]);
    let own = super::own_or_wall_time(names.iter().map(String::as_str), &[]);
    // Before any trial there is nothing to name: wall_time, which every trial will have.
    if own.is_empty() {
        vec!["wall_time".into()]
    } else {
        own
    }
}

/// Per cell (in `cells` order): open or not, and a short reason.
#[derive(Debug, Clone, Serialize)]
pub struct CellDecision {
    pub cell: String,
    /// Finished measured trials, failed ones included.
    pub finished: u32,
    /// Wants another round: unsettled and below max.
    pub open: bool,
    /// Its comparisons are not settled, whatever stopped it.
    pub unsettled: bool,
    pub why: String,
}

/// Decides every cell.
pub fn decide(
    cells: &[CellSummary],
    baseline: &str,
    rule: &Adaptive,
    min: u32,
    s: &Settings,
) -> Vec<CellDecision> {
    let mut open = vec![Vec::<String>::new(); cells.len()];
    let mut settled_by = vec![Vec::<Settled>::new(); cells.len()];
    let workloads = super::workloads(cells);
    for w in &workloads {
        let group: Vec<&CellSummary> = cells.iter().filter(|c| &c.cell.workload == w).collect();
        let metrics = deciding(rule, &group);
        for (i, c) in cells.iter().enumerate() {
            if &c.cell.workload != w || c.cell.variant == baseline {
                continue;
            }
            let Some(bi) = crate::analyse::baseline_of(cells, c, baseline) else {
                continue;
            };
            for m in &metrics {
                let (Some(vm), Some(bm)) = (c.metrics.get(m), cells[bi].metrics.get(m)) else {
                    // A metric neither cell reported yet (all failed so far) keeps both open.
                    if c.ok < 2 || cells[bi].ok < 2 {
                        open[i].push(format!("{m}: too few successful trials"));
                        open[bi].push(format!("{m}: too few successful trials"));
                    }
                    continue;
                };
                let st = comparison(&bm.values, &vm.values, rule, min, s);
                settled_by[i].push(st);
                settled_by[bi].push(st);
                if st == Settled::Open {
                    let why = format!("{m} vs {baseline} not yet within ±{}", rule.ci_width);
                    open[i].push(why.clone());
                    open[bi].push(why);
                }
            }
        }
        for (i, c) in cells.iter().enumerate() {
            // A cell in a comparison is decided by it (settled_by is only filled there so far).
            if &c.cell.workload != w || !settled_by[i].is_empty() || !open[i].is_empty() {
                continue;
            }
            for m in &metrics {
                match c.metrics.get(m) {
                    Some(v) => {
                        let st = alone(&v.values, rule, s);
                        settled_by[i].push(st);
                        if st == Settled::Open {
                            open[i].push(format!("{m}: mean not yet within ±{}", rule.ci_width));
                        }
                    }
                    None => open[i].push(format!("{m}: too few successful trials")),
                }
            }
        }
    }
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Finished measured trials, failed ones included: they cost the time.
            let n = c.ok + c.failed;
            let mut how: Vec<String> = Vec::new();
            if settled_by[i].contains(&Settled::Clear) {
                how.push("clearly different".into());
            }
            if settled_by[i].contains(&Settled::Equivalent) {
                how.push(format!("equivalent within ±{}", s.margin));
            }
            if settled_by[i].contains(&Settled::Precise) {
                how.push(format!("within ±{}", rule.ci_width));
            }
            if settled_by[i].contains(&Settled::Constant) {
                how.push("constant".into());
            }
            let settled = format!("settled: comparisons {}", how.join(" or "));
            let (is_open, unsettled, why) = match (open[i].first(), n >= rule.max) {
                (Some(r), true) => (false, true, format!("reached max = {} with {r}", rule.max)),
                (Some(r), false) => (true, true, r.clone()),
                (None, _) if settled_by[i].contains(&Settled::Futile) => (
                    false,
                    true,
                    format!(
                        "stopped for futility: even {} trials would very likely leave a comparison unanswered",
                        rule.max
                    ),
                ),
                (None, _) => (false, false, settled),
            };
            CellDecision {
                cell: c.cell.key.clone(),
                finished: n,
                open: is_open,
                unsettled,
                why,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Adaptive {
        Adaptive {
            max: 30,
            ci_width: 0.02,
            budget: None,
            metrics: vec![],
        }
    }

    fn sample(mean: f64, cv: f64, n: usize, seed: u64) -> Vec<f64> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let d = Normal::new(mean, mean * cv).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn precise_clear_and_open() {
        let s = Settings::default();
        // CV 0.5%, no difference: the ratio's CI is narrow at n = 5.
        let b = sample(100.0, 0.005, 5, 1);
        let v = sample(100.0, 0.005, 5, 2);
        assert_eq!(comparison(&b, &v, &rule(), 5, &s), Settled::Precise);
        // CV 10%, a 50% difference: imprecise, but clear even at α′.
        let b = sample(100.0, 0.10, 6, 3);
        let v = sample(150.0, 0.10, 6, 4);
        assert_eq!(comparison(&b, &v, &rule(), 5, &s), Settled::Clear);
        // CV 10%, 2% difference at n = 5: neither.
        let b = sample(100.0, 0.10, 5, 5);
        let v = sample(102.0, 0.10, 5, 6);
        assert_eq!(comparison(&b, &v, &rule(), 5, &s), Settled::Open);
        assert_eq!(
            comparison(&[3.0, 3.0], &[4.0, 4.0], &rule(), 5, &s),
            Settled::Constant
        );
        assert_eq!(
            alone(&sample(10.0, 0.005, 5, 7), &rule(), &s),
            Settled::Precise
        );
        assert_eq!(alone(&sample(10.0, 0.2, 5, 7), &rule(), &s), Settled::Open);
    }

    #[test]
    fn equivalence_waits_for_a_difference_that_max_trials_would_show() {
        let s = Settings::default();
        let rule = Adaptive {
            ci_width: 0.005,
            ..rule()
        };
        let e = [-1.0, -0.5, 0.0, 0.0, 0.5, 1.0];
        let b: Vec<f64> = e.iter().map(|x| 100.0 + x).collect();
        // Ratio 1.000 ± 0.004: inside ±3% at α′, and 30 trials would not show a difference.
        let same: Vec<f64> = e.iter().rev().map(|x| 100.0 + x).collect();
        assert_eq!(comparison(&b, &same, &rule, 5, &s), Settled::Equivalent);
        // Ratio 1.008 ± 0.004: also inside ±3% at α′, not yet different, but 30 trials
        // would very likely show the 0.8% difference: keep going.
        let near: Vec<f64> = e.iter().rev().map(|x| 100.8 + x).collect();
        assert_eq!(comparison(&b, &near, &rule, 5, &s), Settled::Open);
    }

    #[test]
    fn pocock_level_lies_between_plain_and_bonferroni() {
        let a = look_alpha(&rule(), 5, 0.05);
        assert!((a - 0.0089).abs() < 1e-4, "{a}");
        assert!(0.05 / 26.0 < a && a < 0.05);
    }
}
