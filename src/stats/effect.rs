//! Effect sizes of the variant (`x`) against the baseline (`y`).

use super::dist::norm_ppf;
use super::error::{StatsError, finite, need};
use super::hypothesis::{Alternative, mann_whitney};
use super::moments::Moments;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standardized {
    pub value: f64,
    pub ci: [f64; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffectSizes {
    /// (mean x − mean y) / pooled sd (Cohen 1988).
    pub cohen_d: Standardized,
    /// d with the small-sample bias correction J = 1 − 3/(4N − 9) (Hedges 1981); the CI
    /// uses the variance approximation statsmodels' `effectsize_smd` uses.
    pub hedges_g: Standardized,
    /// P(x > y) − P(x < y) over all pairs (Cliff 1993): −1 … 1, free of any distribution
    /// assumption.
    pub cliffs_delta: f64,
}

pub fn effect_sizes(x: &[f64], y: &[f64], conf: f64) -> Result<EffectSizes, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    // Standardized effects do not change with a common scale.
    let k = super::scale::factor(&[x, y]);
    let (x, y) = (super::scale::scaled(x, k), super::scale::scaled(y, k));
    let (x, y) = (&*x, &*y);
    let (a, b) = (Moments::of(x), Moments::of(y));
    let nn = a.n + b.n;
    let sp = (((a.n - 1.0) * a.var + (b.n - 1.0) * b.var) / (nn - 2.0)).sqrt();
    if sp == 0.0 {
        return Err(StatsError::ZeroVariance {
            a: a.mean,
            b: b.mean,
        });
    }
    let z = norm_ppf(0.5 + conf / 2.0);
    let d = finite((a.mean - b.mean) / sp, "Cohen's d")?;
    let var_d = nn / (a.n * b.n) + d * d / (2.0 * nn);
    let g = (1.0 - 3.0 / (4.0 * nn - 9.0)) * d;
    let var_g = nn / (a.n * b.n) + g * g / 2.0 / (nn - 3.94);
    let u = mann_whitney(x, y, Alternative::TwoSided)?.u;
    Ok(EffectSizes {
        cohen_d: Standardized {
            value: d,
            ci: [d - z * var_d.sqrt(), d + z * var_d.sqrt()],
        },
        hedges_g: Standardized {
            value: g,
            ci: [g - z * var_g.sqrt(), g + z * var_g.sqrt()],
        },
        cliffs_delta: 2.0 * u / (a.n * b.n) - 1.0,
    })
}

/// Cohen's verbal labels for |d| (0.2 small, 0.5 medium, 0.8 large), used in verdicts.
pub fn magnitude(d: f64) -> &'static str {
    match d.abs() {
        v if v < 0.2 => "negligible effect",
        v if v < 0.5 => "small effect",
        v if v < 0.8 => "medium effect",
        _ => "large effect",
    }
}
