//! Shapiro–Wilk test of normality, Royston's approximation (Royston 1992, 1995: algorithm
//! AS R94), the method SciPy's `shapiro` uses: polynomial approximations of the
//! coefficients for any n ≥ 3 and a normalising transformation of W for the p-value.

use super::dist::{norm_ppf, norm_sf};
use super::error::{StatsError, finite, need};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShapiroWilk {
    pub w: f64,
    pub p: f64,
}

/// c[0] + c[1] x + c[2] x² + …
fn poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
}

/// The coefficients a_1..a_{n/2} (positive) that weight x_(n+1-i) − x_(i).
fn coefficients(n: usize) -> Vec<f64> {
    const C1: [f64; 6] = [0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056];
    const C2: [f64; 6] = [0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
    let half = n / 2;
    if n == 3 {
        return vec![std::f64::consts::FRAC_1_SQRT_2];
    }
    let an = n as f64;
    let m: Vec<f64> = (1..=half)
        .map(|i| norm_ppf((i as f64 - 0.375) / (an + 0.25)))
        .collect();
    let summ2 = 2.0 * m.iter().map(|v| v * v).sum::<f64>();
    let ssumm2 = summ2.sqrt();
    let rsn = 1.0 / an.sqrt();
    let a1 = poly(&C1, rsn) - m[0] / ssumm2;
    let mut a = vec![0.0; half];
    a[0] = a1;
    let (first, fac) = if n > 5 {
        let a2 = -m[1] / ssumm2 + poly(&C2, rsn);
        a[1] = a2;
        let fac = ((summ2 - 2.0 * m[0] * m[0] - 2.0 * m[1] * m[1])
            / (1.0 - 2.0 * a1 * a1 - 2.0 * a2 * a2))
            .sqrt();
        (2, fac)
    } else {
        (
            1,
            ((summ2 - 2.0 * m[0] * m[0]) / (1.0 - 2.0 * a1 * a1)).sqrt(),
        )
    };
    for i in first..half {
        a[i] = -m[i] / fac;
    }
    a
}

pub fn shapiro_wilk(x: &[f64]) -> Result<ShapiroWilk, StatsError> {
    need(x, 3)?;
    let n = x.len();
    // W does not change with scale; the sum of squares would overflow for extreme values.
    let k = super::scale::factor(&[x]);
    let mut s = super::scale::scaled(x, k).into_owned();
    s.sort_by(f64::total_cmp);
    if s[0] == s[n - 1] {
        return Err(StatsError::Constant { value: s[0] / k });
    }
    let a = coefficients(n);
    let mean = s.iter().sum::<f64>() / n as f64;
    let ss: f64 = s.iter().map(|v| (v - mean).powi(2)).sum();
    let num: f64 = a
        .iter()
        .enumerate()
        .map(|(i, ai)| ai * (s[n - 1 - i] - s[i]))
        .sum();
    let w = finite((num * num / ss).min(1.0), "Shapiro–Wilk's W")?;
    Ok(ShapiroWilk {
        w,
        p: p_value(w, n),
    })
}

fn p_value(w: f64, n: usize) -> f64 {
    const G: [f64; 2] = [-2.273, 0.459];
    const C3: [f64; 4] = [0.5440, -0.39978, 0.025054, -6.714e-4];
    const C4: [f64; 4] = [1.3822, -0.77857, 0.062767, -0.0020322];
    const C5: [f64; 4] = [-1.5861, -0.31082, -0.083751, 0.0038915];
    const C6: [f64; 3] = [-0.4803, -0.082676, 0.0030302];
    if n == 3 {
        // Exact for n = 3.
        let p = 6.0 / std::f64::consts::PI * (w.sqrt().asin() - std::f64::consts::FRAC_PI_3);
        return p.clamp(0.0, 1.0);
    }
    if w >= 1.0 {
        return 1.0;
    }
    let an = n as f64;
    let mut y = (1.0 - w).ln();
    let (m, s) = if n <= 11 {
        let gamma = poly(&G, an);
        if y >= gamma {
            return 1e-99; // as AS R94: beyond the approximation's range, W is tiny
        }
        y = -(gamma - y).ln();
        (poly(&C3, an), poly(&C4, an).exp())
    } else {
        let xx = an.ln();
        (poly(&C5, xx), poly(&C6, xx).exp())
    };
    norm_sf((y - m) / s)
}
