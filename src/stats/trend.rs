//! Drift over run order: the Mann–Kendall trend test (Mann 1945; Kendall 1975), with the
//! tie correction of the variance and a continuity correction, as `pymannkendall`.

use super::dist::norm_sf;
use super::error::{StatsError, need};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannKendall {
    pub s: f64,
    pub var_s: f64,
    pub z: f64,
    /// Two-sided p-value of "no monotone trend".
    pub p: f64,
    /// Kendall's tau of the values against their order, S / (n(n − 1)/2).
    pub tau: f64,
}

/// `x` in run order.
pub fn mann_kendall(x: &[f64]) -> Result<MannKendall, StatsError> {
    need(x, 3)?;
    let n = x.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += (x[j] - x[i]).partial_cmp(&0.0).map_or(0, |o| o as i64);
        }
    }
    let (_, ties) = super::hypothesis::rank(x);
    let nf = n as f64;
    let tie: f64 = ties
        .iter()
        .map(|&t| {
            let t = t as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie) / 18.0;
    if var_s == 0.0 {
        return Err(StatsError::Constant { value: x[0] });
    }
    let s = s as f64;
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    Ok(MannKendall {
        s,
        var_s,
        z,
        p: (2.0 * norm_sf(z.abs())).min(1.0),
        tau: s / (nf * (nf - 1.0) / 2.0),
    })
}
