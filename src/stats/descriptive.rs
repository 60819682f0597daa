//! Descriptive statistics of one sample.

use serde::Serialize;

/// Per-cell descriptive statistics. `sd` and `cv` are absent (not zero) below two values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    /// Sample standard deviation (n − 1 in the denominator).
    pub sd: Option<f64>,
    /// Coefficient of variation sd / |mean|; absent when the mean is 0.
    pub cv: Option<f64>,
    pub min: f64,
    pub max: f64,
    /// 25th and 75th percentiles, NumPy's default (linear) method.
    pub q1: f64,
    pub q3: f64,
}

/// Percentile `p` in [0, 100] of sorted data by linear interpolation between closest ranks:
/// NumPy's default (`method="linear"`, Hyndman & Fan type 7).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b, t) = (sorted[lo], sorted[hi], h - lo as f64);
    let d = b - a;
    if d.is_finite() {
        a + t * d
    } else {
        // Opposite signs near f64's limit: the weighted form cannot overflow.
        a * (1.0 - t) + b * t
    }
}

/// Summary of `values`; `None` when there are none. Non-finite values must be filtered out
/// by the caller: they are never silently included.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = super::moments::mean(values);
    // On rescaled values, so that the spread of extreme values neither overflows nor
    // underflows; an sd beyond f64's range is absent, not infinite.
    let k = super::scale::factor(&[values]);
    let scaled = super::scale::scaled(values, k);
    let sd_scaled = (n > 1).then(|| super::moments::var(&scaled).sqrt());
    let sd = sd_scaled.and_then(|s| super::scale::back(s, k));
    let cv = sd_scaled
        .filter(|_| mean != 0.0)
        .map(|s| s / (mean * k).abs())
        .filter(|c| c.is_finite());
    Some(Summary {
        n,
        mean,
        median: percentile(&sorted, 50.0),
        sd,
        cv,
        min: sorted[0],
        max: sorted[n - 1],
        q1: percentile(&sorted, 25.0),
        q3: percentile(&sorted, 75.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_percentiles() {
        // numpy.percentile([1, 2, 3, 4], [25, 50, 75]) == [1.75, 2.5, 3.25]
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 3.25));
        // numpy.percentile([10, 20, 30, 40, 100], 90) == 76.0
        assert!((percentile(&[10.0, 20.0, 30.0, 40.0, 100.0], 90.0) - 76.0).abs() < 1e-12);
    }

    #[test]
    fn sample_sd_and_cv() {
        // numpy.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1) == 2.138089935299395
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert!((s.sd.unwrap() - 2.138089935299395).abs() < 1e-12);
        assert!((s.cv.unwrap() - 2.138089935299395 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn one_value_has_no_spread_rather_than_zero_spread() {
        let s = summarize(&[3.0]).unwrap();
        assert_eq!(s.sd, None);
        assert_eq!(s.cv, None);
        assert_eq!((s.min, s.max, s.median, s.q1), (3.0, 3.0, 3.0, 3.0));
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn zero_mean_has_no_cv() {
        let s = summarize(&[-1.0, 1.0]).unwrap();
        assert_eq!(s.cv, None);
    }
}
