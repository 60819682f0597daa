//! Two-sample tests: Welch's and Student's t, Mann–Whitney U.
//!
//! Conventions: `x` is the variant, `y` the baseline; the alternative is about x − y
//! (`Greater`: the variant is larger). This matches `scipy.stats.ttest_ind(x, y)` and
//! `scipy.stats.mannwhitneyu(x, y)`.

use super::dist::{norm_sf, t_cdf, t_sf};
use super::error::{StatsError, finite, need};
use super::moments::{Moments, satterthwaite};
use super::scale;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    TwoSided,
    Less,
    Greater,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TTest {
    pub t: f64,
    pub df: f64,
    pub p: f64,
}

fn t_p(t: f64, df: f64, alt: Alternative) -> f64 {
    match alt {
        Alternative::TwoSided => (2.0 * t_sf(t.abs(), df)).min(1.0),
        Alternative::Less => t_cdf(t, df),
        Alternative::Greater => t_sf(t, df),
    }
}

fn zero_variance(a: &Moments, b: &Moments) -> Result<(), StatsError> {
    if a.var == 0.0 && b.var == 0.0 {
        return Err(StatsError::ZeroVariance {
            a: a.mean,
            b: b.mean,
        });
    }
    Ok(())
}

/// Welch's unequal-variances t-test (Welch 1947).
pub fn welch(x: &[f64], y: &[f64], alt: Alternative) -> Result<TTest, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    // t, df and p do not change with a common scale: extreme samples are rescaled.
    let k = scale::factor(&[x, y]);
    let (a, b) = (
        Moments::of(&scale::scaled(x, k)),
        Moments::of(&scale::scaled(y, k)),
    );
    zero_variance(&a, &b)?;
    let t = finite((a.mean - b.mean) / (a.se2() + b.se2()).sqrt(), "Welch's t")?;
    let df = finite(satterthwaite(a.se2(), a.n, b.se2(), b.n), "Welch's df")?;
    Ok(TTest {
        t,
        df,
        p: finite(t_p(t, df, alt), "Welch's p")?,
    })
}

/// Student's t-test with pooled variance (assumes equal variances).
pub fn student(x: &[f64], y: &[f64], alt: Alternative) -> Result<TTest, StatsError> {
    need(x, 2)?;
    need(y, 2)?;
    let k = scale::factor(&[x, y]);
    let (a, b) = (
        Moments::of(&scale::scaled(x, k)),
        Moments::of(&scale::scaled(y, k)),
    );
    zero_variance(&a, &b)?;
    let df = a.n + b.n - 2.0;
    let sp2 = ((a.n - 1.0) * a.var + (b.n - 1.0) * b.var) / df;
    let t = finite(
        (a.mean - b.mean) / (sp2 * (1.0 / a.n + 1.0 / b.n)).sqrt(),
        "Student's t",
    )?;
    Ok(TTest {
        t,
        df,
        p: finite(t_p(t, df, alt), "Student's p")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UMethod {
    Exact,
    Asymptotic,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of `x`: the number of (x, y) pairs with x > y, ties counting one half.
    pub u: f64,
    pub p: f64,
    pub method: UMethod,
}

/// Average ranks (1-based) of `v` and the sizes of its tie groups.
pub fn rank(v: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (ranks, ties)
}

/// Mann–Whitney U test (Mann & Whitney 1947). Exact null distribution when a sample has
/// at most 8 values and nothing is tied; otherwise the normal approximation with the tie
/// correction and a continuity correction. The same rule as SciPy's `method="auto"`.
pub fn mann_whitney(x: &[f64], y: &[f64], alt: Alternative) -> Result<MannWhitney, StatsError> {
    need(x, 1)?;
    need(y, 1)?;
    let (n1, n2) = (x.len(), y.len());
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = rank(&all);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let nn = (n1 * n2) as f64;
    let u2 = nn - u1;
    // The p-value is always an upper tail of the statistic that points the right way.
    let (u_tail, factor) = match alt {
        Alternative::TwoSided => (u1.max(u2), 2.0),
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u2, 1.0),
    };
    let exact = (n1 <= 8 || n2 <= 8) && ties.is_empty();
    let sf = if exact {
        exact_sf(u_tail, n1.min(n2), n1.max(n2))
    } else {
        let n = (n1 + n2) as f64;
        let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum();
        let s = (nn / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        if s == 0.0 {
            return Err(StatsError::Constant { value: all[0] });
        }
        norm_sf((u_tail - nn / 2.0 - 0.5) / s)
    };
    Ok(MannWhitney {
        u: u1,
        p: (factor * sf).min(1.0),
        method: if exact {
            UMethod::Exact
        } else {
            UMethod::Asymptotic
        },
    })
}

/// P(U ≥ u) under the null, from the exact distribution of U for samples of m ≤ n: the
/// coefficients of the Gaussian binomial [m+n choose m] in q, built one factor at a time
/// in exact integers (each partial product is itself a Gaussian binomial).
fn exact_sf(u: f64, m: usize, n: usize) -> f64 {
    let max = m * n;
    let mut c = vec![0i128; max + 1];
    c[0] = 1;
    for i in 1..=m {
        // multiply by (1 − q^(n+i))
        let s = n + i;
        for k in (s..=max).rev() {
            c[k] -= c[k - s];
        }
        // divide by (1 − q^i): a running sum
        for k in i..=max {
            c[k] += c[k - i];
        }
    }
    let total: i128 = c.iter().sum();
    let from = u.ceil().max(0.0) as usize;
    let upper: i128 = c.iter().skip(from).sum();
    upper as f64 / total as f64
}
