//! Mean and variance, shared by the tests; two-pass for the small spreads around large
//! means that timing data has, and rescaled (see [`super::scale`]) for extreme magnitudes.

use super::scale;

/// The mean; finite for any finite values (the sum is taken on rescaled values when they
/// are extreme, so 10^4 values near f64's limit do not overflow it).
pub fn mean(x: &[f64]) -> f64 {
    let k = scale::factor(&[x]);
    if k == 1.0 {
        return x.iter().sum::<f64>() / x.len() as f64;
    }
    x.iter().map(|v| v * k).sum::<f64>() / x.len() as f64 / k
}

/// Sample variance (n − 1 denominator); needs two values. Infinite when it exceeds f64's
/// range (a spread above ~1e154): callers that compare samples rescale them first.
pub fn var(x: &[f64]) -> f64 {
    let k = scale::factor(&[x]);
    let sx = scale::scaled(x, k);
    let m = sx.iter().sum::<f64>() / sx.len() as f64;
    sx.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (sx.len() - 1) as f64 / k / k
}

/// Mean, sample variance and n, the sufficient statistics of the t-based methods.
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub var: f64,
}

impl Moments {
    pub fn of(x: &[f64]) -> Moments {
        Moments {
            n: x.len() as f64,
            mean: mean(x),
            var: var(x),
        }
    }

    /// Squared standard error of the mean.
    pub fn se2(&self) -> f64 {
        self.var / self.n
    }

    /// The pooled standard deviation of two samples (Cohen's d's denominator).
    pub fn pooled_sd(&self, other: &Moments) -> f64 {
        (((self.n - 1.0) * self.var + (other.n - 1.0) * other.var) / (self.n + other.n - 2.0))
            .sqrt()
    }
}

/// Welch–Satterthwaite degrees of freedom of a sum of independent squared standard errors
/// `a` (from `na` values) and `b` (from `nb`).
pub fn satterthwaite(a: f64, na: f64, b: f64, nb: f64) -> f64 {
    (a + b).powi(2) / (a * a / (na - 1.0) + b * b / (nb - 1.0))
}
