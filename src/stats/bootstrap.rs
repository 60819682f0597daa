//! Bootstrap confidence intervals (Efron & Tibshirani 1993): percentile and BCa, for the
//! mean and median of one sample and for the ratio of means of two independent samples.
//!
//! The generator is passed in, so a seeded run gives the same interval every time; the
//! number of resamples is part of the result.

use super::descriptive::percentile;
use super::dist::{norm_cdf, norm_ppf};
use super::error::{StatsError, need};
use rand::{Rng, RngExt};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stat {
    Mean,
    Median,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootMethod {
    Percentile,
    /// Bias-corrected and accelerated (Efron 1987).
    Bca,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapCi {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub resamples: usize,
    pub method: BootMethod,
}

fn stat_of(buf: &mut [f64], stat: Stat) -> f64 {
    match stat {
        Stat::Mean => buf.iter().sum::<f64>() / buf.len() as f64,
        Stat::Median => {
            let n = buf.len();
            let (_, hi, _) = buf.select_nth_unstable_by(n / 2, f64::total_cmp);
            let hi = *hi;
            if n % 2 == 1 {
                hi
            } else {
                let lo = buf[..n / 2].iter().copied().fold(f64::MIN, f64::max);
                (lo + hi) / 2.0
            }
        }
    }
}

fn resample(x: &[f64], buf: &mut [f64], rng: &mut impl Rng) {
    for b in buf.iter_mut() {
        *b = x[rng.random_range(0..x.len())];
    }
}

/// The mean of one resample of `x`, without materialising it.
fn resampled_mean(x: &[f64], rng: &mut impl Rng) -> f64 {
    (0..x.len())
        .map(|_| x[rng.random_range(0..x.len())])
        .sum::<f64>()
        / x.len() as f64
}

/// The interval from the sorted bootstrap distribution `boot` of an estimate `theta`.
/// `jack` holds the leave-one-out estimates, grouped by sample, for BCa's acceleration.
fn interval(
    theta: f64,
    mut boot: Vec<f64>,
    jack: &[Vec<f64>],
    conf: f64,
    method: BootMethod,
) -> Result<BootstrapCi, StatsError> {
    if !theta.is_finite() || boot.iter().any(|v| !v.is_finite()) {
        // A resample whose baseline averages 0 has no ratio: the interval is unbounded.
        return Err(StatsError::Numeric(
            "a bootstrap interval (some resamples have no finite estimate)",
        ));
    }
    boot.sort_by(f64::total_cmp);
    let b = boot.len();
    let alpha = (1.0 - conf) / 2.0;
    let (q_lo, q_hi) = match method {
        BootMethod::Percentile => (alpha, 1.0 - alpha),
        BootMethod::Bca => {
            let below = boot.iter().filter(|&&v| v < theta).count() as f64 / b as f64;
            let z0 = norm_ppf(below);
            if !z0.is_finite() {
                // Every resample fell on one side of the estimate: the data barely vary.
                return Err(StatsError::Constant { value: theta });
            }
            let (mut num, mut den) = (0.0, 0.0);
            for group in jack {
                let m = group.iter().sum::<f64>() / group.len() as f64;
                for v in group {
                    let u = m - v;
                    num += u * u * u;
                    den += u * u;
                }
            }
            let a = if den > 0.0 {
                num / (6.0 * den.powf(1.5))
            } else {
                0.0
            };
            let adj = |z: f64| norm_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)));
            (adj(norm_ppf(alpha)), adj(norm_ppf(1.0 - alpha)))
        }
    };
    if !(q_lo.is_finite() && q_hi.is_finite()) {
        return Err(StatsError::Numeric("the BCa adjustment"));
    }
    Ok(BootstrapCi {
        estimate: theta,
        lo: percentile(&boot, 100.0 * q_lo),
        hi: percentile(&boot, 100.0 * q_hi),
        resamples: b,
        method,
    })
}

/// Interval for the mean or median of `x` from `resamples` resamples.
pub fn bootstrap_ci(
    x: &[f64],
    stat: Stat,
    conf: f64,
    resamples: usize,
    method: BootMethod,
    rng: &mut impl Rng,
) -> Result<BootstrapCi, StatsError> {
    need(x, 2)?;
    // The interval is computed on rescaled values and scaled back (see `scale`).
    let k = super::scale::factor(&[x]);
    let xs = super::scale::scaled(x, k);
    let x = &*xs;
    let mut buf = x.to_vec();
    let theta = stat_of(&mut buf, stat);
    let boot: Vec<f64> = (0..resamples)
        .map(|_| {
            resample(x, &mut buf, rng);
            stat_of(&mut buf, stat)
        })
        .collect();
    let jack = if method == BootMethod::Bca {
        vec![leave_one_out(x, stat)]
    } else {
        Vec::new()
    };
    let mut ci = interval(theta, boot, &jack, conf, method)?;
    let back =
        |v: f64| super::scale::back(v, k).ok_or(StatsError::Numeric("the bootstrap interval"));
    ci.estimate = back(ci.estimate)?;
    ci.lo = back(ci.lo)?;
    ci.hi = back(ci.hi)?;
    Ok(ci)
}

/// The statistic of `x` without each value in turn, in O(n log n): the mean from the
/// running sum, the median from the sorted values (the direct way took O(n²)).
fn leave_one_out(x: &[f64], stat: Stat) -> Vec<f64> {
    let n = x.len();
    match stat {
        Stat::Mean => {
            let sum: f64 = x.iter().sum();
            x.iter().map(|v| (sum - v) / (n - 1) as f64).collect()
        }
        Stat::Median => {
            let mut s = x.to_vec();
            s.sort_by(f64::total_cmp);
            // Without the value at sorted position j, the others' middle is s's middle
            // shifted up by one place at and above j. Tied values leave the same others
            // whichever of them goes, so each value takes its first position.
            let m = n - 1;
            x.iter()
                .map(|v| {
                    let j = s.partition_point(|w| w.total_cmp(v).is_lt());
                    let at = |i: usize| if i >= j { s[i + 1] } else { s[i] };
                    if m % 2 == 1 {
                        at(m / 2)
                    } else {
                        (at(m / 2 - 1) + at(m / 2)) / 2.0
                    }
                })
                .collect()
        }
    }
}

/// Interval for mean(x) / mean(y), resampling each sample independently.
pub fn bootstrap_ratio(
    x: &[f64],
    y: &[f64],
    conf: f64,
    resamples: usize,
    method: BootMethod,
    rng: &mut impl Rng,
) -> Result<BootstrapCi, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let unscaled_y = y;
    // A ratio does not change with a common scale; the sums would overflow unscaled.
    let k = super::scale::factor(&[x, y]);
    let (xs, ys) = (super::scale::scaled(x, k), super::scale::scaled(y, k));
    let (x, y) = (&*xs, &*ys);
    let (sx, sy) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    if sy == 0.0 {
        return Err(super::ratio::zero_baseline(unscaled_y));
    }
    let theta = (sx / nx) / (sy / ny);
    let boot: Vec<f64> = (0..resamples)
        .map(|_| resampled_mean(x, rng) / resampled_mean(y, rng))
        .collect();
    // Leave-one-out from each sample in turn, by running sums: O(n).
    let jack = vec![
        x.iter()
            .map(|v| ((sx - v) / (nx - 1.0)) / (sy / ny))
            .collect(),
        y.iter()
            .map(|v| (sx / nx) / ((sy - v) / (ny - 1.0)))
            .collect(),
    ];
    interval(theta, boot, &jack, conf, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_one_out_equals_recomputing_without_each_value() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [2, 3, 4, 5, 10, 11, 40] {
            // Few distinct values: ties are common.
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            for stat in [Stat::Mean, Stat::Median] {
                let fast = leave_one_out(&x, stat);
                for (i, got) in fast.iter().enumerate() {
                    let mut rest: Vec<f64> = x
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, v)| *v)
                        .collect();
                    let direct = stat_of(&mut rest, stat);
                    assert!((got - direct).abs() < 1e-12, "{stat:?} n {n} i {i}: {x:?}");
                }
            }
        }
    }
}
