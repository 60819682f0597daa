//! Power of the two-sample t-test and the sample size a target effect needs.

use super::dist::{nct_cdf, nct_sf, t_ppf};
use super::error::{StatsError, need};
use super::moments::{Moments, satterthwaite};

/// Power of the two-sided pooled t-test with `n` per group at standardized effect `d`:
/// statsmodels' `TTestIndPower().power(d, n, alpha, ratio=1)`.
pub fn ttest_power(d: f64, n: f64, alpha: f64) -> f64 {
    let df = 2.0 * n - 2.0;
    let nc = d * (n / 2.0).sqrt();
    let c = t_ppf(1.0 - alpha / 2.0, df);
    nct_sf(c, df, nc) + nct_cdf(-c, df, nc)
}

/// The n per group (fractional; round up to use it) at which the two-sided t-test reaches
/// `power` for standardized effect `d`: statsmodels' `solve_power`. Bisection on the
/// monotone power curve.
pub fn n_per_group(d: f64, alpha: f64, power: f64) -> Option<f64> {
    if d == 0.0 || !d.is_finite() {
        return None;
    }
    let (mut lo, mut hi) = (1.0 + 1e-9, 2.0);
    while ttest_power(d, hi, alpha) < power {
        hi *= 2.0;
        if hi > 1e9 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if ttest_power(d, mid, alpha) < power {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Power of the two-sided Welch test to detect a true difference `delta` given the
/// samples' variances and sizes (noncentral t with Welch's degrees of freedom).
pub fn welch_power_at(x: &[f64], y: &[f64], delta: f64, alpha: f64) -> Result<f64, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let (a, b) = (Moments::of(x), Moments::of(y));
    let se2 = a.se2() + b.se2();
    if se2 == 0.0 {
        return Err(StatsError::ZeroVariance {
            a: a.mean,
            b: b.mean,
        });
    }
    let df = satterthwaite(a.se2(), a.n, b.se2(), b.n);
    let nc = delta / se2.sqrt();
    let c = t_ppf(1.0 - alpha / 2.0, df);
    Ok(nct_sf(c, df, nc) + nct_cdf(-c, df, nc))
}

/// Achieved power of the Welch test at the observed difference of means.
pub fn welch_power(x: &[f64], y: &[f64], alpha: f64) -> Result<f64, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let delta = Moments::of(x).mean - Moments::of(y).mean;
    welch_power_at(x, y, delta, alpha)
}
