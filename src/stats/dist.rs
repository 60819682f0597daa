//! Distribution functions the tests need: Student's t (central and noncentral) and the
//! standard normal.
//!
//! The central t and the normal come from `statrs`; quantiles are polished with Newton
//! steps on the CDF so they agree with SciPy to ~1e-12. `statrs` has no noncentral t, so
//! its CDF is written here after Lenth's algorithm AS 243 (Applied Statistics 38, 1989),
//! the series over Poisson-weighted incomplete beta functions.

use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

fn normal() -> Normal {
    Normal::standard()
}

// Every function here returns NaN for arguments outside its domain (NaN, a probability
// outside [0, 1], degrees of freedom that are not positive) instead of panicking as statrs
// does; callers turn a NaN into an error with `error::finite`.

pub fn norm_cdf(x: f64) -> f64 {
    normal().cdf(x)
}

pub fn norm_sf(x: f64) -> f64 {
    normal().sf(x)
}

pub fn norm_ppf(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    normal().inverse_cdf(p)
}

/// Student's t with `df` > 0 degrees of freedom (None otherwise, NaN included).
fn student(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

pub fn t_cdf(x: f64, df: f64) -> f64 {
    if x > 0.0 {
        1.0 - t_sf(x, df)
    } else {
        t_sf(-x, df)
    }
}

/// Upper tail P(T > x), computed directly so small p-values keep their precision.
pub fn t_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return if x > 0.0 { 0.0 } else { 1.0 };
    }
    if df.is_infinite() {
        return norm_sf(x);
    }
    // P(|T| > |x|) = I_{df/(df+x²)}(df/2, 1/2)
    let tail = 0.5 * beta_reg(df / 2.0, 0.5, df / (df + x * x));
    if x >= 0.0 { tail } else { 1.0 - tail }
}

/// Degrees of freedom beyond which the t quantile is taken from its Cornish–Fisher
/// expansion about the normal: statrs' inverse (an inverse incomplete beta with a = df/2)
/// slows without bound as df grows, and the expansion's error there is below 1e-15.
const LARGE_DF: f64 = 1e5;

/// Quantile of Student's t.
pub fn t_ppf(p: f64, df: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df > LARGE_DF {
        let z = norm_ppf(p);
        let (z3, z5) = (z.powi(3), z.powi(5));
        return z + (z3 + z) / (4.0 * df) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df);
    }
    let Some(dist) = student(df) else {
        return f64::NAN;
    };
    let mut x = dist.inverse_cdf(p);
    for _ in 0..4 {
        let f = dist.pdf(x);
        if f.is_nan() || f <= 0.0 || !x.is_finite() {
            break;
        }
        let err = if p > 0.5 {
            (1.0 - p) - t_sf(x, df)
        } else {
            t_cdf(x, df) - p
        };
        let step = if p > 0.5 { -err / f } else { err / f };
        x -= step;
        if step.abs() <= 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    x
}

/// CDF of the noncentral t with `df` degrees of freedom and noncentrality `nc`
/// (AS 243; absolute error below 1e-12).
pub fn nct_cdf(t: f64, df: f64, nc: f64) -> f64 {
    const ERRMAX: f64 = 1e-13;
    const ITRMAX: usize = 2000;
    if t.is_nan() || nc.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() || t.is_infinite() || nc.is_infinite() {
        // The normal limit; and the tails of an infinite statistic or noncentrality.
        return norm_cdf(t - nc);
    }
    let (tt, del, negdel) = if t < 0.0 {
        (-t, -nc, true)
    } else {
        (t, nc, false)
    };
    let x = tt * tt / (tt * tt + df);
    let mut tnc = 0.0;
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        let mut a = 0.5;
        let b = 0.5 * df;
        let rxb = (1.0 - x).powf(b);
        let albeta = 0.5 * std::f64::consts::PI.ln() + ln_gamma(b) - ln_gamma(0.5 + b);
        let mut xodd = beta_reg(a, b, x);
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        let mut xeven = 1.0 - rxb;
        let mut geven = b * x * rxb;
        tnc = p * xodd + q * xeven;
        let mut en = 1.0;
        for _ in 0..ITRMAX {
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            p *= lambda / (2.0 * en);
            q *= lambda / (2.0 * en + 1.0);
            s -= p;
            en += 1.0;
            tnc += p * xodd + q * xeven;
            if 2.0 * s * (xodd - godd) <= ERRMAX {
                break;
            }
        }
    }
    tnc += norm_cdf(-del);
    let tnc = tnc.clamp(0.0, 1.0);
    if negdel { 1.0 - tnc } else { tnc }
}

pub fn nct_sf(t: f64, df: f64, nc: f64) -> f64 {
    1.0 - nct_cdf(t, df, nc)
}
