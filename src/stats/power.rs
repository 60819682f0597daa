//! Power of the two-sample t-test and the sample size a target effect needs.

use super::dist::{nct_cdf, nct_sf, t_ppf};
use super::error::{StatsError, finite, need};
use super::moments::{Moments, satterthwaite};

/// Power of the two-sided pooled t-test with `n` per group at standardized effect `d`:
/// statsmodels' `TTestIndPower().power(d, n, alpha, ratio=1)`.
pub fn ttest_power(d: f64, n: f64, alpha: f64) -> f64 {
    let df = 2.0 * n - 2.0;
    let nc = d * (n / 2.0).sqrt();
    let c = t_ppf(1.0 - alpha / 2.0, df);
    if df > 1e5 {
        // The noncentral t is normal to within 1e-5 here, and its series is slow.
        return super::dist::norm_sf(c - nc) + super::dist::norm_cdf(-c - nc);
    }
    nct_sf(c, df, nc) + nct_cdf(-c, df, nc)
}

/// Beyond this many trials per group, the answer "needs more than a million trials" is
/// reported instead of a number.
pub const MAX_N: f64 = 1e6;

/// Whole trials per group for [`n_per_group`]: rounded up, at least 2; None where no n up
/// to the search limit gets there (or d is not positive).
pub fn trials_needed(d: f64, alpha: f64, power: f64) -> Option<u64> {
    (d > 0.0 && d.is_finite())
        .then(|| n_per_group(d, alpha, power))
        .flatten()
        .map(|n| n.ceil().max(2.0) as u64)
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
        if hi > MAX_N {
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
    // delta is in the data's units: it scales with it.
    let k = super::scale::factor(&[x, y, &[delta]]);
    let delta = delta * k;
    let (a, b) = (
        Moments::of(&super::scale::scaled(x, k)),
        Moments::of(&super::scale::scaled(y, k)),
    );
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
    finite(nct_sf(c, df, nc) + nct_cdf(-c, df, nc), "the power")
}

/// Achieved power of the Welch test at the observed difference of means.
pub fn welch_power(x: &[f64], y: &[f64], alpha: f64) -> Result<f64, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let k = super::scale::factor(&[x, y]);
    let delta = Moments::of(&super::scale::scaled(x, k)).mean
        - Moments::of(&super::scale::scaled(y, k)).mean;
    welch_power_at(x, y, finite(delta / k, "the difference of means")?, alpha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::dist::t_ppf;

    #[test]
    fn large_degrees_of_freedom_are_fast_and_match_scipy() {
        // scipy.stats.t.ppf at 1e6, 2e5 and 5e5 degrees of freedom.
        for (p, df, want) in [
            (0.975, 1e6, 1.959966356814107),
            (0.975, 2e5, 1.959975845966768),
            (0.01, 5e5, -2.3263553322122092),
        ] {
            let got = t_ppf(p, df);
            assert!(
                (got - want).abs() < 1e-12,
                "t_ppf({p}, {df}) = {got}, scipy {want}"
            );
        }
        // A tiny effect needs more than a million trials: answered at once, not computed.
        let start = std::time::Instant::now();
        assert_eq!(n_per_group(0.0013, 0.05, 0.8), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // statsmodels: TTestIndPower().solve_power(0.01, alpha=0.05, power=0.8) = 156978.6...
        let n = n_per_group(0.01, 0.05, 0.8).unwrap();
        assert!((n - 156_978.0).abs() < 5.0, "{n}");
    }
}
