//! The capacity search: the highest load level (request rate or concurrency) at which an
//! objective holds, with a confidence interval. The trials are run by the caller's
//! `measure`; the statistics are `stats::capacity`; the method is in docs/llm-serving.md.
//!
//! Three phases:
//! 1. **bracket**: from `start`, double the level while the objective holds (halve it
//!    while it fails, down to start/16), `search_trials` trials per level, decided by
//!    their mean;
//! 2. **bisect**: halve the bracket until it is narrower than `tolerance` of its top;
//! 3. **verify**: five levels around the bracket, `trials` fresh trials each, run in a
//!    seeded random order. Only these trials make the interval, by fixed-sequence tests
//!    on a design fixed before they ran, so the search's own noisy decisions (and how many
//!    levels it tried) cannot bias it; the point estimate is where their isotonic fit
//!    crosses the limit.

pub mod load;

use crate::stats::capacity::{self as cs, Bound, LevelTest};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The first level tried.
    pub start: f64,
    /// The highest level tried: the objective holding there ends the search upwards.
    pub max: f64,
    /// Levels are whole numbers (concurrency).
    pub integer: bool,
    /// Trials per level while searching (at least 1), and per verified level (at least 2).
    pub search_trials: usize,
    pub trials: usize,
    /// Bisection stops when the bracket is narrower than this fraction of its top.
    pub tolerance: f64,
    pub confidence: f64,
    /// Orders the verification trials.
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Bracket,
    Bisect,
    Verify,
}

/// What one trial gave: its distance from the objective (`z`, see `stats::capacity`) and
/// the values to show on the curve (the objective's metrics, the achieved rate).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    pub z: f64,
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub level: f64,
    pub phase: Phase,
    pub trial: Trial,
}

/// One level of the curve: every trial there, whatever its phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub level: f64,
    pub trials: usize,
    /// Per value, over the trials that measured it.
    pub values: BTreeMap<String, Level>,
    /// The verification's test here, if the level was verified.
    pub verified: Option<LevelTest>,
}

/// One value at one level: its mean over the `n` trials that measured it (a trial that
/// served nothing has no latency: the level's `trials` says how many there were), and the
/// mean's interval (None below two). Geometric (on logs) for positive values, as the
/// objective is judged; arithmetic where a value is 0 or below.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub n: usize,
    pub mean: f64,
    pub ci: Option<[f64; 2]>,
    pub geometric: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub settings: Settings,
    pub trials: Vec<Measured>,
    /// The search's bracket: the highest level it saw hold and the lowest it saw fail
    /// (None where it saw none).
    pub bracket: (Option<f64>, Option<f64>),
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
    /// The point estimate, or why there is none.
    pub estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_missing: Option<String>,
    pub curve: Vec<Point>,
    /// The knee of the curve of `knee_of` against level (Kneedle), when it has one.
    pub knee: Option<f64>,
    pub knee_of: Option<String>,
    /// The objective was shown to hold at a level at or above one where it was shown to
    /// fail: a test erred or the server changed during the search. No interval stands.
    pub contradicts: bool,
    /// Why an end of the interval is missing, or the ends contradict each other.
    pub notes: Vec<String>,
}

/// Runs the search. `measure(level, phase)` runs one trial; its error ends the search
/// (the trials so far are the caller's to keep: it saw each one). `knee_of` names the
/// value whose curve the knee is found on.
pub fn search<E>(
    s: &Settings,
    knee_of: Option<&str>,
    mut measure: impl FnMut(f64, Phase) -> Result<Trial, E>,
) -> Result<Outcome, E> {
    let round = |x: f64| if s.integer { x.round().max(1.0) } else { x };
    let mut trials: Vec<Measured> = Vec::new();
    let mut probe = |level: f64, phase: Phase, trials: &mut Vec<Measured>| -> Result<bool, E> {
        let mut sum = 0.0;
        for _ in 0..s.search_trials.max(1) {
            let t = measure(level, phase)?;
            sum += t.z;
            trials.push(Measured {
                level,
                phase,
                trial: t,
            });
        }
        Ok(sum / s.search_trials.max(1) as f64 <= 0.0)
    };

    // 1. Bracket.
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let first = round(s.start.min(s.max));
    if probe(first, Phase::Bracket, &mut trials)? {
        lo = Some(first);
        let mut level = first;
        while level < s.max {
            let next =
                round((level * 2.0).min(s.max)).max(level + if s.integer { 1.0 } else { 0.0 });
            if next <= level {
                break;
            }
            level = next;
            if probe(level, Phase::Bracket, &mut trials)? {
                lo = Some(level);
            } else {
                hi = Some(level);
                break;
            }
        }
    } else {
        hi = Some(first);
        // Four halvings at most: with a fixed number of requests, a trial's length grows
        // as its rate falls.
        let floor = if s.integer { 1.0 } else { first / 16.0 };
        let mut level = first;
        loop {
            let next = round(level / 2.0);
            if next >= level || next < floor {
                break;
            }
            level = next;
            if probe(level, Phase::Bracket, &mut trials)? {
                lo = Some(level);
                break;
            }
            hi = Some(level);
        }
    }

    // 2. Bisect.
    let doubled = (lo, hi);
    if let (Some(mut l), Some(mut h)) = (lo, hi) {
        for _ in 0..12 {
            if h - l <= s.tolerance * h {
                break;
            }
            let mid = round((l + h) / 2.0);
            if mid <= l || mid >= h {
                break;
            }
            if probe(mid, Phase::Bisect, &mut trials)? {
                l = mid;
            } else {
                h = mid;
            }
        }
        (lo, hi) = (Some(l), Some(h));
    }

    // 3. Verify, on levels fixed now, before their trials.
    let grid = verify_levels(&trials, doubled, (lo, hi), s);
    let mut order: Vec<f64> = grid
        .iter()
        .flat_map(|&l| std::iter::repeat_n(l, s.trials.max(2)))
        .collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(s.seed));
    for level in order {
        let t = measure(level, Phase::Verify)?;
        trials.push(Measured {
            level,
            phase: Phase::Verify,
            trial: t,
        });
    }
    Ok(conclude(s.clone(), trials, (lo, hi), &grid, knee_of))
}

/// The z of the trials at `level`: every phase's, or with `verify_only` the verification's.
fn z_at(trials: &[Measured], level: f64, verify_only: bool) -> Vec<f64> {
    trials
        .iter()
        .filter(|m| m.level == level && (!verify_only || m.phase == Phase::Verify))
        .map(|m| m.trial.z)
        .collect()
}

/// Every level tried, ascending, once.
fn levels_of(trials: &[Measured]) -> Vec<f64> {
    let mut levels: Vec<f64> = trials.iter().map(|m| m.level).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    levels
}

/// Mean z of the search's trials at `level`.
fn mean_z(trials: &[Measured], level: f64) -> Option<f64> {
    let z = z_at(trials, level, false);
    (!z.is_empty()).then(|| z.iter().sum::<f64>() / z.len() as f64)
}

/// The verified levels, chosen from the search's trials alone: five, at c − d, c − d/2, c,
/// c + d/2 and c + d, where c is where the final bracket's means cross the limit and d is
/// how far from it the mean z should be decided by `trials` trials: (t + 3) σ / (b √n),
/// with σ the search's within-level spread of z (levels whose trials vary) and b the slope
/// of z over the doubling's bracket (wide enough that noise does not swamp it); twice the
/// final bracket's width without either. Never less than the final bracket's width, so a
/// steep curve still gets levels apart, and at most c/2: a level far below the crossing
/// narrows nothing, and at a trickle of load a server can answer more slowly than at a
/// moderate one (llama.cpp's TTFT p99 was 38 ms at 1.7 req/s against 23 ms at 9 req/s),
/// which would stall the lower end's sequence at its first level.
/// With one end missing (the objective held at the highest level, or failed at the
/// lowest), three levels reaching away from the other. None above `max`.
fn verify_levels(
    trials: &[Measured],
    doubled: (Option<f64>, Option<f64>),
    (lo, hi): (Option<f64>, Option<f64>),
    s: &Settings,
) -> Vec<f64> {
    let mut v = match (lo, hi) {
        (Some(l), Some(h)) => {
            let (zl, zh) = (mean_z(trials, l), mean_z(trials, h));
            let c = match (zl, zh) {
                (Some(a), Some(b)) if b > a => (l + (h - l) * (0.0 - a) / (b - a)).clamp(l, h),
                _ => (l + h) / 2.0,
            };
            // Within-level spread, from levels whose trials vary.
            let (mut ss, mut df) = (0.0, 0usize);
            for level in levels_of(trials) {
                let z = z_at(trials, level, false);
                let m = z.iter().sum::<f64>() / z.len() as f64;
                let dev: f64 = z.iter().map(|x| (x - m) * (x - m)).sum();
                if z.len() >= 2 && dev > 0.0 && dev.is_finite() {
                    ss += dev;
                    df += z.len() - 1;
                }
            }
            let slope = match doubled {
                (Some(a), Some(b)) if b > a => mean_z(trials, a)
                    .zip(mean_z(trials, b))
                    .map(|(za, zb)| (zb - za) / (b - a)),
                _ => None,
            };
            let n = s.trials.max(2) as f64;
            // The verification's pooled degrees of freedom: five levels of n trials.
            let t = crate::stats::dist::t_ppf(1.0 - (1.0 - s.confidence) / 2.0, 5.0 * (n - 1.0));
            let d = match slope {
                Some(b) if b > 0.0 && df > 0 => {
                    (t + 3.0) * (ss / df as f64).sqrt() / (b * n.sqrt())
                }
                _ => 2.0 * (h - l),
            }
            .max(h - l)
            .min(0.5 * c);
            vec![c - d, c - d / 2.0, c, c + d / 2.0, c + d]
        }
        (Some(l), None) => vec![l / 2.0, l * 0.75, l],
        (None, Some(h)) => vec![h, h * 1.5, h * 2.0],
        (None, None) => Vec::new(),
    };
    for x in &mut v {
        *x = if s.integer {
            x.round().max(1.0)
        } else {
            three_digits(*x)
        };
    }
    v.retain(|x| *x > 0.0 && *x <= s.max);
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// `x` to three significant digits: a level a reader can type back in.
fn three_digits(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

fn conclude(
    settings: Settings,
    trials: Vec<Measured>,
    bracket: (Option<f64>, Option<f64>),
    grid: &[f64],
    knee_of: Option<&str>,
) -> Outcome {
    let groups: Vec<Vec<f64>> = grid.iter().map(|&l| z_at(&trials, l, true)).collect();
    let refs: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
    let tests: Vec<(f64, LevelTest)> = grid.iter().copied().zip(cs::level_tests(&refs)).collect();
    let (lower, upper) = cs::interval(&tests, settings.confidence);
    let mut notes = Vec::new();
    let a = (1.0 - settings.confidence) / 2.0;
    // Each missing end, and the test where its sequence stopped.
    for (missing, end, shown, at) in [
        (
            lower.is_none(),
            "lower",
            "hold at the lowest",
            tests.first().map(|(l, t)| (l, t.p_holds)),
        ),
        (
            upper.is_none(),
            "upper",
            "fail at the highest",
            tests.last().map(|(l, t)| (l, t.p_fails)),
        ),
    ] {
        if missing {
            notes.push(match at {
                Some((l, p)) => format!(
                    "no {end} end: the objective was not shown to {shown} verified level {l} (p = {p:.3} > {a:.3})"
                ),
                None => format!("no {end} end: nothing was verified"),
            });
        }
    }
    let contradicts = matches!((lower, upper), (Some(l), Some(u)) if l.level >= u.level);
    if let (true, Some(l), Some(u)) = (contradicts, lower, upper) {
        notes.push(format!(
            "the objective was shown to hold at {} and to fail at {}, not above it: a test erred, or the server changed during the search (drift, or a queue left by an earlier trial: lengthen --cooldown); no interval is given",
            l.level, u.level
        ));
    }
    let levels: Vec<f64> = tests.iter().map(|t| t.0).collect();
    let means: Vec<f64> = tests.iter().map(|t| t.1.mean).collect();
    let weights: Vec<f64> = tests.iter().map(|t| t.1.n as f64).collect();
    let estimate = if levels.is_empty() || means.iter().any(|m| !m.is_finite()) {
        Err("nothing was verified".to_string())
    } else {
        cs::crossing(&levels, &means, &weights).map_err(|below| {
            if below {
                format!(
                    "the objective failed on average at every verified level: the capacity is below {}",
                    levels[0]
                )
            } else {
                format!(
                    "the objective held on average at every verified level: the capacity is above {}",
                    levels[levels.len() - 1]
                )
            }
        })
    };
    let curve: Vec<Point> = levels_of(&trials)
        .iter()
        .map(|&level| {
            let here: Vec<&Trial> = trials
                .iter()
                .filter(|m| m.level == level)
                .map(|m| &m.trial)
                .collect();
            let mut names: Vec<&String> = here.iter().flat_map(|t| t.values.keys()).collect();
            names.sort();
            names.dedup();
            let values = names
                .into_iter()
                .filter_map(|n| {
                    let v: Vec<f64> = here
                        .iter()
                        .filter_map(|t| t.values.get(n).copied())
                        .collect();
                    let level = match cs::geometric(&v, settings.confidence) {
                        Some((mean, ci)) => Level {
                            n: v.len(),
                            mean,
                            ci,
                            geometric: true,
                        },
                        None if !v.is_empty() && v.iter().all(|x| x.is_finite()) => Level {
                            n: v.len(),
                            mean: v.iter().sum::<f64>() / v.len() as f64,
                            ci: crate::stats::ci::t_interval(&v, settings.confidence).ok(),
                            geometric: false,
                        },
                        None => return None,
                    };
                    Some((n.clone(), level))
                })
                .collect();
            Point {
                level,
                trials: here.len(),
                values,
                verified: tests.iter().find(|t| t.0 == level).map(|t| t.1),
            }
        })
        .collect();
    let knee = knee_of.and_then(|name| {
        let (x, y): (Vec<f64>, Vec<f64>) = curve
            .iter()
            .filter_map(|p| p.values.get(name).map(|v| (p.level, v.mean)))
            .unzip();
        cs::knee(&x, &y)
    });
    Outcome {
        settings,
        trials,
        bracket,
        lower,
        upper,
        estimate_missing: estimate.as_ref().err().cloned(),
        estimate: estimate.ok(),
        curve,
        knee,
        knee_of: knee_of.map(str::to_string),
        contradicts,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::objective::{CAP, FLOOR};
    use rand_distr::{Distribution, Normal};

    fn settings(seed: u64) -> Settings {
        Settings {
            start: 1.0,
            max: 10_000.0,
            integer: false,
            search_trials: 2,
            trials: 3,
            tolerance: 0.1,
            confidence: 0.95,
            seed,
        }
    }

    /// A simulated server: the median trial's p99 latency at `level` is `p99(level)`, each
    /// trial off by lognormal noise of `sigma`; the objective is p99 ≤ `limit`.
    fn simulate(
        s: &Settings,
        p99: &dyn Fn(f64) -> f64,
        limit: f64,
        sigma: &dyn Fn(f64) -> f64,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Outcome {
        let r: Result<Outcome, ()> = search(s, Some("p99"), |level, _| {
            let noise = Normal::new(0.0, sigma(level)).unwrap();
            let y = p99(level) * noise.sample(rng).exp();
            // As `Objective::z` judges a trial.
            let z = (y / limit).ln().clamp(-FLOOR.ln(), CAP.ln());
            Ok(Trial {
                z,
                values: BTreeMap::from([("p99".to_string(), y)]),
            })
        });
        r.unwrap()
    }

    /// Coverage of the interval over repeated simulated searches on three curve shapes,
    /// each with its true capacity known: an M/M/1-shaped queue (the prototype's, where a
    /// straight-line fit covered only 0.93), a gentle linear rise, and a cliff.
    #[test]
    fn intervals_cover_the_true_capacity_at_their_stated_level() {
        let queue = |l: f64| {
            if l < 50.0 {
                20.0 + 400.0 / (50.0 - l)
            } else {
                1e6
            }
        };
        let cliff = |l: f64| {
            if l < 12.0 {
                100.0
            } else {
                100.0 + 400.0 * (l - 12.0)
            }
        };
        let flat = |_: f64| 0.1;
        type Curve = Box<dyn Fn(f64) -> f64>;
        let shapes: [(&str, Curve, f64, Curve); 4] = [
            (
                "queue",
                Box::new(queue),
                50.0 - 400.0 / 180.0,
                Box::new(flat),
            ),
            ("linear", Box::new(|l| 50.0 + 5.0 * l), 30.0, Box::new(flat)),
            ("cliff", Box::new(cliff), 12.25, Box::new(flat)),
            // Trial-to-trial spread that grows towards saturation, 5% far below it to 25%
            // at it: the pooled variance's assumption broken as a real queue breaks it.
            (
                "queue, spread growing",
                Box::new(queue),
                50.0 - 400.0 / 180.0,
                Box::new(|l| 0.05 + 0.2 * (l.min(50.0) / 50.0).powi(6)),
            ),
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
        // (shape, coverage, fraction with both ends, median width / capacity, trials a search)
        let mut table = Vec::new();
        for (name, p99, truth, sigma) in shapes {
            let (n, mut covered, mut bounded, mut trials) = (400u64, 0u64, 0u64, 0usize);
            let mut widths = Vec::new();
            for i in 0..n {
                let o = simulate(&settings(i), &*p99, 200.0, &*sigma, &mut rng);
                let lo = o.lower.map_or(f64::NEG_INFINITY, |b| b.level);
                let hi = o.upper.map_or(f64::INFINITY, |b| b.level);
                covered += u64::from(lo <= truth && truth <= hi);
                if let (Some(l), Some(u)) = (o.lower, o.upper) {
                    bounded += 1;
                    widths.push((u.level - l.level) / truth);
                }
                trials += o.trials.len();
            }
            widths.sort_by(f64::total_cmp);
            let row = (
                name,
                covered as f64 / n as f64,
                bounded as f64 / n as f64,
                widths.get(widths.len() / 2).copied().unwrap_or(f64::NAN),
                trials as f64 / n as f64,
            );
            // The table docs/llm-serving.md quotes (`-- --nocapture`).
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{row:?}");
            }
            table.push(row);
        }
        for (name, coverage, bounded, _, trials) in table {
            assert!(coverage >= 0.95, "{name}: coverage {coverage}");
            // A gentle curve under 10% noise is hard to decide three trials at a time.
            let floor = if name == "linear" { 0.6 } else { 0.9 };
            assert!(bounded >= floor, "{name}: {bounded} bounded");
            assert!(trials <= 45.0, "{name}: {trials} trials a search");
        }
    }

    #[test]
    fn a_search_reports_its_bracket_estimate_curve_and_knee() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let p99 = |l: f64| {
            if l < 50.0 {
                20.0 + 400.0 / (50.0 - l)
            } else {
                1e6
            }
        };
        let o = simulate(&settings(7), &p99, 200.0, &|_| 0.05, &mut rng);
        let (lo, hi) = (o.lower.unwrap().level, o.upper.unwrap().level);
        let est = o.estimate.unwrap();
        assert!(lo < est && est < hi, "{lo} {est} {hi}");
        assert!((est - 47.78).abs() < 2.0, "{est}");
        assert!(o.bracket.0.unwrap() < o.bracket.1.unwrap());
        assert!(o.curve.windows(2).all(|w| w[0].level < w[1].level));
        assert!(o.knee.is_some());
        assert_eq!(
            o.trials.iter().filter(|m| m.phase == Phase::Verify).count(),
            15
        );
    }

    #[test]
    fn held_everywhere_gives_a_lower_end_only_and_concurrency_stays_whole() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut s = settings(1);
        s.max = 64.0;
        let o = simulate(&s, &|_| 50.0, 200.0, &|_| 0.05, &mut rng);
        assert!(o.upper.is_none() && o.lower.is_some());
        assert!(o.estimate.is_none() && o.estimate_missing.is_some());
        assert!(o.notes.iter().any(|n| n.contains("no upper end")));
        s.integer = true;
        let o = simulate(&s, &|l| 20.0 * l, 200.0, &|_| 0.05, &mut rng);
        assert!(o.trials.iter().all(|m| m.level.fract() == 0.0));
        let (lo, hi) = (o.lower.unwrap().level, o.upper.unwrap().level);
        assert!(lo <= 10.0 && 10.0 <= hi, "{lo} {hi}");
    }
}
