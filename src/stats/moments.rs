//! Mean and variance, shared by the tests; two-pass for the small spreads around large
//! means that timing data has.

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample variance (n − 1 denominator); needs two values.
pub fn var(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64
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
