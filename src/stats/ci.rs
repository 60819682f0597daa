//! The t-interval of a mean.

use super::dist::t_ppf;
use super::error::{StatsError, need};
use super::moments::Moments;

/// [lo, hi] of the mean at confidence `conf`: mean ± t(n − 1) · sd/√n
/// (`scipy.stats.t.interval(conf, n - 1, mean, sem)`).
pub fn t_interval(x: &[f64], conf: f64) -> Result<[f64; 2], StatsError> {
    need(x, 2)?;
    let m = Moments::of(x);
    let half = t_ppf(0.5 + conf / 2.0, m.n - 1.0) * m.se2().sqrt();
    Ok([m.mean - half, m.mean + half])
}
