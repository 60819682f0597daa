//! Number formatting for reports: four significant digits, never twelve.

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

#[cfg(test)]
mod tests {
    use super::*;

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
