//! Samples of any finite magnitude: rescaling by a power of two before the arithmetic.
//!
//! Sums of squares overflow above ~1e154 and underflow below ~1e-154, and a mean of 10^4
//! values near 1e305 overflows its sum. Every statistic rigor reports is either invariant
//! under a common scale factor (t, p, ratios, effect sizes, W) or scales with it (means,
//! quantiles, intervals), so the entry points multiply extreme samples by a power of two
//! (exact: only the exponent changes) and scale the results that carry units back.
//! Moderate data, the common case, is used as it is, without a copy.

use std::borrow::Cow;

/// Magnitudes inside this range are used as they are.
const MODERATE: std::ops::RangeInclusive<f64> = 1e-100..=1e100;

/// A power of two k that brings the largest |value| of all `samples` into [0.5, 1), when
/// the values are extreme; 1 otherwise (and for all-zero or non-finite data, which the
/// callers refuse on their own).
pub fn factor(samples: &[&[f64]]) -> f64 {
    let m = samples
        .iter()
        .flat_map(|s| s.iter())
        .fold(0.0f64, |a, &x| a.max(x.abs()));
    if m == 0.0 || !m.is_finite() || MODERATE.contains(&m) {
        return 1.0;
    }
    // m in [2^e, 2^(e+1)); 2^-(e+1) is representable for every finite m: subnormal (and
    // still exact) for m near f64's maximum, and capped at 2^1023 for subnormal m, whose
    // scaled values stay small but exact.
    let e = m.log2().floor() as i32;
    pow2((-(e + 1)).clamp(-1074, 1023))
}

/// 2^p for p in [-1074, 1023], built from its bits (`powi` overflows on the way to 2^-1024).
fn pow2(p: i32) -> f64 {
    if p >= -1022 {
        f64::from_bits(((p + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (p + 1074))
    }
}

/// `x` times `k`, borrowed when k is 1.
pub fn scaled(x: &[f64], k: f64) -> Cow<'_, [f64]> {
    if k == 1.0 {
        Cow::Borrowed(x)
    } else {
        Cow::Owned(x.iter().map(|v| v * k).collect())
    }
}

/// A value computed on data scaled by `k`, in the data's own units again; None when it
/// does not fit in an f64 there (only possible within a factor 2 of f64's limit).
pub fn back(v: f64, k: f64) -> Option<f64> {
    let r = v / k;
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_are_exact_powers_of_two_and_moderate_data_is_left_alone() {
        assert_eq!(factor(&[&[1.0, -3.0e6]]), 1.0);
        assert_eq!(factor(&[&[]]), 1.0);
        let k = factor(&[&[1e300, -1.7e308], &[2.0]]);
        assert_eq!(k.log2().fract(), 0.0);
        let top = 1.7e308 * k;
        assert!((0.5..1.0).contains(&top), "{top}");
        let k = factor(&[&[1e-300, 3e-301]]);
        assert!((0.5..1.0).contains(&(1e-300 * k)));
        let k = factor(&[&[5e-324]]);
        assert!(k.is_finite() && (5e-324 * k) > 0.0);
        assert_eq!(back(0.75, k), Some(0.75 / k));
        assert_eq!(back(1.5, pow2(-1024)), None);
        for p in [-1074, -1060, -1023, -1022, -1, 0, 1, 1023] {
            assert_eq!(pow2(p), 2f64.powf(p as f64), "2^{p}");
        }
    }
}
