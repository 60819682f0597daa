//! The t-interval of a mean.

use super::dist::t_ppf;
use super::error::{StatsError, finite, need};
use super::moments::Moments;

/// [lo, hi] of the mean at confidence `conf`: mean ± t(n − 1) · sd/√n
/// (`scipy.stats.t.interval(conf, n - 1, mean, sem)`).
pub fn t_interval(x: &[f64], conf: f64) -> Result<[f64; 2], StatsError> {
    need(x, 2)?;
    let k = super::scale::factor(&[x]);
    let m = Moments::of(&super::scale::scaled(x, k));
    let half = finite(
        t_ppf(0.5 + conf / 2.0, m.n - 1.0),
        "the t quantile of the mean's interval",
    )? * m.se2().sqrt();
    let bound = |v: f64| super::scale::back(v, k).ok_or(StatsError::Numeric("the mean's interval"));
    Ok([bound(m.mean - half)?, bound(m.mean + half)?])
}
