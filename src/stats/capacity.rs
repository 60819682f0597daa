//! The statistics of a capacity search (`rigor capacity`): whether an objective holds at a
//! load level, the confidence interval of the highest level at which it holds, the point
//! estimate, and the knee of the latency curve. Pure functions; the search that calls
//! them is `run::capacity`, the method and its coverage are in docs/llm-serving.md.
//!
//! A trial at a level gives one value `z`: how far its worst objective is from its limit,
//! on a log scale (`ln(value / limit)` for an upper limit), so `z <= 0` means the trial
//! met every objective. The objective *holds* at a level when the mean of `z` over trials
//! there is at most 0: the geometric mean of the trials' worst ratio to the limit is
//! within the limit.

use super::dist::t_sf;
use super::moments::Moments;
use serde::Serialize;
use std::cmp::Ordering::Greater;

/// The evidence at one level: a t-test of its mean `z` against 0 in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelTest {
    pub n: usize,
    pub mean: f64,
    /// p-value against "the objective fails here" (small: it holds).
    pub p_holds: f64,
    /// p-value against "the objective holds here" (small: it fails).
    pub p_fails: f64,
}

/// The tests at several levels, each level's mean `z` against 0 with the variance pooled
/// over the levels whose trials vary (the residual mean square of a one-way layout on
/// those levels, as statsmodels' OLS on one indicator per level gives it, with its
/// Σ(n − 1) degrees of freedom). Pooling on the log scale assumes a spread that does not
/// change with the load; it buys the degrees of freedom three trials a level cannot have
/// alone (t(2) needs |mean| > 4.3 SE, t(10) 2.2). A level whose trials all gave one value
/// (every one capped, say) adds nothing to the pool and is tested on the others' spread.
/// Without any spread to pool, or for a level with no trial or a non-finite value, there
/// is no evidence either way: both p-values are 1, never a certainty made of zero spread.
pub fn level_tests(groups: &[&[f64]]) -> Vec<LevelTest> {
    let (mut ss, mut df) = (0.0, 0usize);
    for g in groups {
        if g.len() >= 2 && g.iter().all(|v| v.is_finite()) {
            let m = Moments::of(g);
            if m.var > 0.0 {
                ss += m.var * (m.n - 1.0);
                df += g.len() - 1;
            }
        }
    }
    let mse = ss / df as f64;
    groups
        .iter()
        .map(|g| {
            let n = g.len();
            let none = |mean| LevelTest {
                n,
                mean,
                p_holds: 1.0,
                p_fails: 1.0,
            };
            if n == 0 || g.iter().any(|v| !v.is_finite()) {
                return none(f64::NAN);
            }
            let mean = g.iter().sum::<f64>() / n as f64;
            let se = (mse / n as f64).sqrt();
            if df == 0 || se <= 0.0 || !se.is_finite() {
                return none(mean);
            }
            let t = mean / se;
            LevelTest {
                n,
                mean,
                p_holds: t_sf(-t, df as f64),
                p_fails: t_sf(t, df as f64),
            }
        })
        .collect()
}

/// One end of the capacity interval: the level, and the p-value that established it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bound {
    pub level: f64,
    pub p: f64,
}

/// The capacity interval from levels tested on a design fixed before their trials ran
/// (`tests`: ascending by level), at confidence `conf`. Each end is a fixed-sequence test
/// at (1 − conf)/2 (Maurer, Hothorn & Lehmacher 1995): the lower end climbs from the
/// lowest level while the objective is shown to hold, the upper end descends from the
/// highest while it is shown to fail. A fixed-sequence procedure errs only if it rejects
/// the first true hypothesis in its order, a single test at its level, so each end is
/// wrong with probability at most (1 − conf)/2 and the interval covers the capacity with
/// probability at least `conf`: with no model of the latency curve, and whatever the
/// number of levels. None: the end was not established (the objective was not shown to
/// hold at the lowest level, or to fail at the highest).
pub fn interval(tests: &[(f64, LevelTest)], conf: f64) -> (Option<Bound>, Option<Bound>) {
    let a = (1.0 - conf) / 2.0;
    let mut lower = None;
    for (level, t) in tests {
        if t.p_holds > a {
            break;
        }
        lower = Some(Bound {
            level: *level,
            p: t.p_holds,
        });
    }
    let mut upper = None;
    for (level, t) in tests.iter().rev() {
        if t.p_fails > a {
            break;
        }
        upper = Some(Bound {
            level: *level,
            p: t.p_fails,
        });
    }
    (lower, upper)
}

/// The least-squares non-decreasing fit of `y` with weights `w` (pool adjacent violators;
/// `scipy.optimize.isotonic_regression(y, weights=w)`). Latency does not fall as load
/// rises; a dip between two levels is noise, pooled away before the crossing is found.
pub fn isotonic(y: &[f64], w: &[f64]) -> Vec<f64> {
    // Blocks of (weighted mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(y.len());
    for (&v, &wt) in y.iter().zip(w) {
        blocks.push((v, wt, 1));
        while blocks.len() > 1 {
            let (m2, w2, c2) = blocks[blocks.len() - 1];
            let (m1, w1, c1) = blocks[blocks.len() - 2];
            if m1 <= m2 {
                break;
            }
            blocks.pop();
            let wsum = w1 + w2;
            let last = blocks.len() - 1;
            blocks[last] = ((m1 * w1 + m2 * w2) / wsum, wsum, c1 + c2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(m, _, c)| std::iter::repeat_n(m, c))
        .collect()
}

/// Where the objective stops holding, from mean `z` at ascending `levels` (weights: trials
/// per level): the isotonic fit's first crossing of 0, interpolated linearly between the
/// last level at or below 0 and the first above. `Err(true)`: above 0 at every level (the
/// capacity is below the lowest); `Err(false)`: at or below 0 at every level.
pub fn crossing(levels: &[f64], z: &[f64], w: &[f64]) -> Result<f64, bool> {
    let fit = isotonic(z, w);
    match fit.iter().position(|&v| v > 0.0) {
        None => Err(false),
        Some(0) => Err(true),
        Some(i) => {
            let (x0, x1, y0, y1) = (levels[i - 1], levels[i], fit[i - 1], fit[i]);
            Ok(x0 + (x1 - x0) * (0.0 - y0) / (y1 - y0))
        }
    }
}

/// The knee of an increasing, convex curve (latency against load) by Kneedle (Satopää,
/// Albrecht, Irwin & Raghavan 2011): both axes scaled to [0, 1], the point farthest below
/// the chord from the first point to the last. None below three points, or when no point
/// lies below the chord (no knee: the curve is straight or concave).
pub fn knee(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 3 || x.len() != y.len() {
        return None;
    }
    let (x0, x1) = (x[0], x[x.len() - 1]);
    let (ylo, yhi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if x1.partial_cmp(&x0) != Some(Greater) || yhi.partial_cmp(&ylo) != Some(Greater) {
        return None;
    }
    let mut best: Option<(f64, f64)> = None;
    for (&xi, &yi) in x.iter().zip(y) {
        let d = (xi - x0) / (x1 - x0) - (yi - ylo) / (yhi - ylo);
        if d > 0.0 && best.is_none_or(|(b, _)| d > b) {
            best = Some((d, xi));
        }
    }
    best.map(|b| b.1)
}

/// The geometric mean of positive `v` and its t-interval at `conf` (computed on logs);
/// the interval is None below two values.
pub fn geometric(v: &[f64], conf: f64) -> Option<(f64, Option<[f64; 2]>)> {
    if v.is_empty() || v.iter().any(|x| *x <= 0.0 || !x.is_finite()) {
        return None;
    }
    let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    let ci = super::ci::t_interval(&logs, conf)
        .ok()
        .map(|[lo, hi]| [lo.exp(), hi.exp()])
        .filter(|c| c.iter().all(|x| x.is_finite()));
    Some((mean.exp(), ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(z: &[f64]) -> LevelTest {
        level_tests(&[z])[0]
    }

    #[test]
    fn a_level_with_every_trial_under_the_limit_holds_and_one_over_fails() {
        let t = one(&[-0.5, -0.45, -0.55]);
        assert!(t.p_holds < 0.01 && t.p_fails > 0.99, "{t:?}");
        let t = one(&[0.5, 0.45, 0.55]);
        assert!(t.p_fails < 0.01 && t.p_holds > 0.99, "{t:?}");
        // One trial, or a non-finite value: no evidence.
        assert_eq!(one(&[-3.0]).p_holds, 1.0);
        assert_eq!(one(&[-3.0, f64::NAN]).p_holds, 1.0);
        assert_eq!(one(&[]).p_fails, 1.0);
        // Identical values and nothing else to pool: no evidence, not certainty.
        let t = one(&[2.3, 2.3, 2.3]);
        assert_eq!((t.p_fails, t.p_holds), (1.0, 1.0));
        // Beside levels that vary, capped trials are tested on their spread.
        let t = level_tests(&[&[-0.5, -0.4, -0.6], &[4.6, 4.6, 4.6]]);
        assert_eq!(t[0].mean, -0.5);
        assert!(t[1].p_fails < 1e-4 && t[1].p_holds > 0.999, "{t:?}");
    }

    #[test]
    fn each_end_stops_at_its_first_unproven_level() {
        let lv = |z: &[f64]| one(z);
        let tests = vec![
            (10.0, lv(&[-1.0, -1.1, -0.9])),
            (20.0, lv(&[-0.5, -0.6, -0.4])),
            (30.0, lv(&[-0.1, 0.2, 0.05])),
            // Shown to hold above an unclear level: the fixed sequence never reaches it.
            (35.0, lv(&[-0.5, -0.6, -0.4])),
            (40.0, lv(&[0.6, 0.5, 0.7])),
        ];
        let (lo, hi) = interval(&tests, 0.95);
        assert_eq!(lo.map(|b| b.level), Some(20.0));
        assert_eq!(hi.map(|b| b.level), Some(40.0));
        let (lo, hi) = interval(&tests[2..3], 0.95);
        assert!(lo.is_none() && hi.is_none());
    }

    #[test]
    fn isotonic_pools_violators_and_the_crossing_interpolates() {
        assert_eq!(
            isotonic(&[1.0, 3.0, 2.0, 4.0], &[1.0; 4]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        assert_eq!(isotonic(&[3.0, 1.0], &[1.0, 3.0]), vec![1.5, 1.5]);
        let x = [10.0, 20.0, 30.0];
        assert_eq!(crossing(&x, &[-1.0, -0.5, 0.5], &[1.0; 3]), Ok(25.0));
        assert_eq!(crossing(&x, &[0.1, 0.2, 0.5], &[1.0; 3]), Err(true));
        assert_eq!(crossing(&x, &[-1.0, -0.5, 0.0], &[1.0; 3]), Err(false));
    }

    #[test]
    fn the_knee_of_a_queue_is_where_it_turns_up() {
        // p99 = 20 + 400 / (50 − λ): flat, then steep.
        let x: Vec<f64> = (1..=9).map(|i| i as f64 * 5.0).collect();
        let y: Vec<f64> = x.iter().map(|l| 20.0 + 400.0 / (50.0 - l)).collect();
        let k = knee(&x, &y).unwrap();
        assert!((30.0..=40.0).contains(&k), "{k}");
        assert_eq!(knee(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(knee(&[1.0, 2.0], &[1.0, 5.0]), None);
    }

    #[test]
    fn geometric_means_refuse_what_has_no_logarithm() {
        let (g, ci) = geometric(&[1.0, 4.0], 0.95).unwrap();
        assert!((g - 2.0).abs() < 1e-12);
        assert!(ci.unwrap()[0] < 2.0);
        assert!(geometric(&[0.0, 4.0], 0.95).is_none());
        let (g, ci) = geometric(&[3.0], 0.95).unwrap();
        assert!((g - 3.0).abs() < 1e-12 && ci.is_none());
    }
}
