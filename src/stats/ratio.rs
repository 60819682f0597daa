//! The ratio of means (variant / baseline): Fieller's interval and equivalence tests.

use super::dist::{t_cdf, t_ppf, t_sf};
use super::error::{StatsError, finite, need};
use super::moments::{Moments, satterthwaite};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioInterval {
    pub ratio: f64,
    /// Bounds; absent when the interval is unbounded (the baseline mean is not
    /// distinguishable from zero at this confidence, so no finite interval exists).
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub df: f64,
}

/// A baseline mean of 0 after rescaling is 0 indeed, or so much smaller than the variant's
/// values that their ratio leaves f64's range.
pub(crate) fn zero_baseline(y: &[f64]) -> StatsError {
    if super::moments::mean(y) == 0.0 {
        StatsError::ZeroBaseline
    } else {
        StatsError::Numeric("the ratio of means (it is beyond f64's range)")
    }
}

/// The moments of x and y after a common rescaling (ratios and tests do not change with it).
fn moments(x: &[f64], y: &[f64]) -> Result<(Moments, Moments), StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let k = super::scale::factor(&[x, y]);
    let (a, b) = (
        Moments::of(&super::scale::scaled(x, k)),
        Moments::of(&super::scale::scaled(y, k)),
    );
    if b.mean == 0.0 {
        return Err(zero_baseline(y));
    }
    if a.var == 0.0 && b.var == 0.0 {
        return Err(StatsError::ZeroVariance {
            a: a.mean,
            b: b.mean,
        });
    }
    Ok((a, b))
}

/// Fieller's interval (Fieller 1954) for mean(x)/mean(y), independent samples with
/// unequal variances; degrees of freedom by Welch–Satterthwaite for
/// var(mean x − R·mean y) (Tamhane & Logan 2004).
pub fn fieller(x: &[f64], y: &[f64], conf: f64) -> Result<RatioInterval, StatsError> {
    let (a, b) = moments(x, y)?;
    let r = a.mean / b.mean;
    let (va, vb) = (a.se2(), b.se2());
    if va + r * r * vb == 0.0 {
        // var(mean x − R·mean y) is 0 (the variant is constantly 0): no t, no df.
        return Err(StatsError::Constant { value: a.mean });
    }
    let df = finite(satterthwaite(va, a.n, r * r * vb, b.n), "Fieller's df")?;
    let t = finite(t_ppf(0.5 + conf / 2.0, df), "Fieller's t quantile")?;
    let g = finite(t * t * vb / (b.mean * b.mean), "Fieller's g")?;
    if g >= 1.0 {
        return Ok(RatioInterval {
            ratio: r,
            lo: None,
            hi: None,
            df,
        });
    }
    let half = t / b.mean.abs() * (va * (1.0 - g) + r * r * vb).sqrt();
    Ok(RatioInterval {
        ratio: finite(r, "the ratio of means")?,
        lo: Some(finite((r - half) / (1.0 - g), "Fieller's interval")?),
        hi: Some(finite((r + half) / (1.0 - g), "Fieller's interval")?),
        df,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tost {
    /// The equivalence margin: ±margin (relative for the ratio, absolute for the difference).
    pub margin: f64,
    /// p of H0 "below the lower margin" and of H0 "above the upper margin".
    pub p_lower: f64,
    pub p_upper: f64,
    /// max of the two: equivalence is shown at level α when p < α.
    pub p: f64,
}

/// One-sided Welch-type test of mean(x) − θ·mean(y) against 0 (Sasabuchi 1980).
fn ratio_one_sided(a: &Moments, b: &Moments, theta: f64, greater: bool) -> f64 {
    let (va, vb) = (a.se2(), theta * theta * b.se2());
    let t = (a.mean - theta * b.mean) / (va + vb).sqrt();
    let df = satterthwaite(va, a.n, vb, b.n);
    if greater { t_sf(t, df) } else { t_cdf(t, df) }
}

/// One-sided test of mean(x)/mean(y) against a bound θ: `Greater` takes H1 "ratio > θ",
/// `Less` H1 "ratio < θ" (`TwoSided` doubles the smaller tail). It is Welch's t-test of x
/// against θ·y, so it equals `scipy.stats.ttest_ind(x, θ*y, equal_var=False, alternative)`.
/// The claims of `[[hypothesis]]` blocks are tested with it.
pub fn ratio_test(
    x: &[f64],
    y: &[f64],
    theta: f64,
    alt: super::hypothesis::Alternative,
) -> Result<f64, StatsError> {
    use super::hypothesis::Alternative;
    let (a, b) = moments(x, y)?;
    let p = match alt {
        Alternative::Greater => ratio_one_sided(&a, &b, theta, true),
        Alternative::Less => ratio_one_sided(&a, &b, theta, false),
        Alternative::TwoSided => (2.0
            * ratio_one_sided(&a, &b, theta, true).min(ratio_one_sided(&a, &b, theta, false)))
        .min(1.0),
    };
    finite(p, "the ratio test's p")
}

/// Two one-sided tests (Schuirmann 1987) that mean(x)/mean(y) lies within 1 ± margin.
pub fn tost_ratio(x: &[f64], y: &[f64], margin: f64) -> Result<Tost, StatsError> {
    let (a, b) = moments(x, y)?;
    let p_lower = finite(ratio_one_sided(&a, &b, 1.0 - margin, true), "TOST's p")?;
    let p_upper = finite(ratio_one_sided(&a, &b, 1.0 + margin, false), "TOST's p")?;
    Ok(Tost {
        margin,
        p_lower,
        p_upper,
        p: p_lower.max(p_upper),
    })
}

/// TOST that mean(x) − mean(y) lies within (low, high), with Welch's t: statsmodels'
/// `ttost_ind(x, y, low, high, usevar="unequal")`.
pub fn tost_difference(x: &[f64], y: &[f64], low: f64, high: f64) -> Result<Tost, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    // The margins are in the data's units: they scale with it.
    let k = super::scale::factor(&[x, y, &[low, high]]);
    let (low, high) = (low * k, high * k);
    let (a, b) = (
        Moments::of(&super::scale::scaled(x, k)),
        Moments::of(&super::scale::scaled(y, k)),
    );
    if a.var == 0.0 && b.var == 0.0 {
        return Err(StatsError::ZeroVariance {
            a: a.mean / k,
            b: b.mean / k,
        });
    }
    let se = (a.se2() + b.se2()).sqrt();
    let df = satterthwaite(a.se2(), a.n, b.se2(), b.n);
    let d = a.mean - b.mean;
    let p_lower = finite(t_sf((d - low) / se, df), "TOST's p")?;
    let p_upper = finite(t_cdf((d - high) / se, df), "TOST's p")?;
    Ok(Tost {
        margin: high / k,
        p_lower,
        p_upper,
        p: p_lower.max(p_upper),
    })
}
