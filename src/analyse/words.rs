//! Number formatting for reports: four significant digits, never twelve.

/// A confidence bound, or "unbounded" where the interval has none (Fieller's interval
/// when the baseline mean is not clearly away from 0).
pub fn fmt_bound(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "unbounded".into())
}

/// `x` with 4 significant digits, switching to exponent notation for very large or small.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = 3 - a.log10().floor() as i32;
    let s = format!("{:.*}", digits.max(0) as usize, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A ratio as `1.052×`.
pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{r:.3}×"),
        None => "—".into(),
    }
}

/// Decimal places that give an interval's half-width two significant digits; the estimate
/// and both bounds are printed to that place, so no digit is claimed that the CI does not
/// support.
pub fn ci_decimals(lo: f64, hi: f64) -> usize {
    let half = (hi - lo).abs() / 2.0;
    if !half.is_finite() || half == 0.0 {
        return 4;
    }
    (1 - half.log10().floor() as i32).clamp(0, 12) as usize
}

/// `estimate [lo, hi]` rounded to the CI's precision.
pub fn fmt_ci(estimate: f64, lo: f64, hi: f64) -> (String, String, String) {
    if estimate != 0.0 && !(1e-3..1e6).contains(&estimate.abs()) {
        // Fixed decimals would print 1e-300 as 0.000000000000: significant digits instead.
        return (fmt_num(estimate), fmt_num(lo), fmt_num(hi));
    }
    let d = ci_decimals(lo, hi);
    (
        format!("{estimate:.d$}"),
        format!("{lo:.d$}"),
        format!("{hi:.d$}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_precision_decides_the_digits() {
        assert_eq!(
            fmt_ci(12.34567, 12.1, 12.6),
            ("12.35".into(), "12.10".into(), "12.60".into())
        );
        assert_eq!(
            fmt_ci(1234.5, 1100.0, 1370.0),
            ("1234".into(), "1100".into(), "1370".into())
        );
        assert_eq!(
            fmt_ci(1.0234, 1.0211, 1.0257),
            ("1.0234".into(), "1.0211".into(), "1.0257".into())
        );
        assert_eq!(fmt_ci(1.5e-300, 1.4e-300, 1.6e-300).0, "1.500e-300");
    }

    #[test]
    fn four_significant_digits() {
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(12.0), "12");
        assert_eq!(fmt_num(0.0001234), "1.234e-4");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_ratio(Some(1.05234)), "1.052×");
    }
}
