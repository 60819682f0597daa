//! Two-way analysis of variance with interaction, for data that need not be balanced (a
//! failed trial unbalances a design). Type II sums of squares, as statsmodels'
//! `anova_lm(typ=2)`: each main effect adjusted for the other, the interaction for both,
//! all tested against the full model's residual mean square (Fox, *Applied Regression
//! Analysis and Generalized Linear Models*, 3rd ed., §8.2.3).
//!
//! The additive model's least-squares fit is found by backfitting (alternating the two
//! factors' conditional means, Gauss–Seidel on the normal equations), which needs no matrix
//! algebra and ends in one sweep when the design is balanced.

use super::error::{StatsError, check_finite, finite};
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// One row of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Term {
    pub ss: f64,
    pub df: f64,
    pub f: f64,
    pub p: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TwoWay {
    /// Absent with one level of A: nothing to test.
    pub a: Option<Term>,
    pub b: Term,
    /// Absent when the design leaves no degrees of freedom for it (a missing cell can).
    pub interaction: Option<Term>,
    pub residual_ss: f64,
    pub residual_df: f64,
    /// Factor B's effects in the additive model, relative to the mean of its levels: on
    /// log values, how much slower or faster each level is, whatever A's mix on it.
    pub b_effects: Vec<f64>,
}

/// `obs`: (level of A, level of B, value). Levels are 0-based; a level with no
/// observation is not counted.
pub fn two_way(obs: &[(usize, usize, f64)]) -> Result<TwoWay, StatsError> {
    let y: Vec<f64> = obs.iter().map(|o| o.2).collect();
    check_finite(&y)?;
    let na = obs.iter().map(|o| o.0 + 1).max().unwrap_or(0);
    let nb = obs.iter().map(|o| o.1 + 1).max().unwrap_or(0);
    let n = obs.len();
    // Centred: the sums of squares are differences of nearly equal sums otherwise.
    let grand = y.iter().sum::<f64>() / n.max(1) as f64;
    let obs: Vec<(usize, usize, f64)> = obs.iter().map(|&(a, b, v)| (a, b, v - grand)).collect();

    let mut cell_sum = vec![0.0; na * nb];
    let mut cell_n = vec![0usize; na * nb];
    let (mut a_sum, mut a_n) = (vec![0.0; na], vec![0usize; na]);
    let (mut b_sum, mut b_n) = (vec![0.0; nb], vec![0usize; nb]);
    for &(a, b, v) in &obs {
        cell_sum[a * nb + b] += v;
        cell_n[a * nb + b] += 1;
        a_sum[a] += v;
        a_n[a] += 1;
        b_sum[b] += v;
        b_n[b] += 1;
    }
    let levels_a = a_n.iter().filter(|&&c| c > 0).count();
    let levels_b = b_n.iter().filter(|&&c| c > 0).count();
    let cells = cell_n.iter().filter(|&&c| c > 0).count();
    let residual_df = n as f64 - cells as f64;
    if levels_a < 1 || levels_b < 2 || residual_df < 1.0 {
        return Err(StatsError::TooFew {
            need: cells + 1,
            got: n,
        });
    }
    let mean = |s: f64, c: usize| if c > 0 { s / c as f64 } else { 0.0 };
    let sse = |fit: &dyn Fn(usize, usize) -> f64| {
        obs.iter()
            .map(|&(a, b, v)| (v - fit(a, b)).powi(2))
            .sum::<f64>()
    };
    let sse_full = sse(&|a, b| mean(cell_sum[a * nb + b], cell_n[a * nb + b]));
    let sse_a = sse(&|a, _| mean(a_sum[a], a_n[a]));
    let sse_b = sse(&|_, b| mean(b_sum[b], b_n[b]));
    let (alpha, beta) = additive_fit(&obs, na, nb, &a_n, &b_n)?;
    let sse_ab = sse(&|a, b| alpha[a] + beta[b]);
    if sse_full <= 0.0 {
        return Err(StatsError::NoResidual);
    }
    let mse = sse_full / residual_df;
    let term = |ss: f64, df: f64| -> Result<Term, StatsError> {
        // Rounding can leave a true zero slightly negative.
        let ss = ss.max(0.0);
        let f = finite(ss / df / mse, "an F statistic")?;
        let dist = FisherSnedecor::new(df, residual_df)
            .map_err(|_| StatsError::Numeric("the F distribution"))?;
        Ok(Term {
            ss,
            df,
            f,
            p: finite(dist.sf(f), "an F test's p-value")?.clamp(0.0, 1.0),
        })
    };
    let a = if levels_a >= 2 {
        Some(term(sse_b - sse_ab, levels_a as f64 - 1.0)?)
    } else {
        None
    };
    let b = term(sse_a - sse_ab, levels_b as f64 - 1.0)?;
    // A connected design's interaction has cells − (a + b − 1) degrees of freedom.
    let df_ab = cells as f64 - (levels_a + levels_b) as f64 + 1.0;
    let interaction = if levels_a >= 2 && df_ab >= 1.0 {
        Some(term(sse_ab - sse_full, df_ab)?)
    } else {
        None
    };
    let present: Vec<usize> = (0..nb).filter(|&j| b_n[j] > 0).collect();
    let centre = present.iter().map(|&j| beta[j]).sum::<f64>() / present.len() as f64;
    Ok(TwoWay {
        a,
        b,
        interaction,
        residual_ss: sse_full,
        residual_df,
        b_effects: (0..nb).map(|j| beta[j] - centre).collect(),
    })
}

/// Least squares of y ≈ α[a] + β[b] by backfitting.
fn additive_fit(
    obs: &[(usize, usize, f64)],
    na: usize,
    nb: usize,
    a_n: &[usize],
    b_n: &[usize],
) -> Result<(Vec<f64>, Vec<f64>), StatsError> {
    let mut alpha = vec![0.0; na];
    let mut beta = vec![0.0; nb];
    let scale = obs
        .iter()
        .map(|o| o.2.abs())
        .fold(0.0, f64::max)
        .max(1e-300);
    for _ in 0..100_000 {
        let mut next_a = vec![0.0; na];
        for &(a, b, v) in obs {
            next_a[a] += v - beta[b];
        }
        for (x, &c) in next_a.iter_mut().zip(a_n) {
            *x = if c > 0 { *x / c as f64 } else { 0.0 };
        }
        let mut next_b = vec![0.0; nb];
        for &(a, b, v) in obs {
            next_b[b] += v - next_a[a];
        }
        for (x, &c) in next_b.iter_mut().zip(b_n) {
            *x = if c > 0 { *x / c as f64 } else { 0.0 };
        }
        let change = next_a
            .iter()
            .zip(&alpha)
            .chain(next_b.iter().zip(&beta))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        alpha = next_a;
        beta = next_b;
        if change <= 1e-15 * scale {
            return Ok((alpha, beta));
        }
    }
    Err(StatsError::Numeric("the additive model's fit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balanced_design_splits_the_variation_exactly() {
        // 2 × 2, 2 per cell; B adds 1 at level 1, no interaction, residuals ±0.1.
        let obs = [
            (0, 0, 10.1),
            (0, 0, 9.9),
            (0, 1, 11.1),
            (0, 1, 10.9),
            (1, 0, 12.1),
            (1, 0, 11.9),
            (1, 1, 13.1),
            (1, 1, 12.9),
        ];
        let t = two_way(&obs).unwrap();
        assert!((t.a.as_ref().unwrap().ss - 8.0).abs() < 1e-9, "{t:?}");
        assert!((t.b.ss - 2.0).abs() < 1e-9);
        assert!(t.interaction.as_ref().unwrap().ss.abs() < 1e-9);
        assert!((t.residual_ss - 0.08).abs() < 1e-9);
        assert_eq!(t.residual_df, 4.0);
        assert!((t.b_effects[1] - t.b_effects[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn too_little_data_or_no_variation_is_an_error_not_a_nan() {
        assert!(two_way(&[]).is_err());
        assert!(two_way(&[(0, 0, 1.0), (0, 1, 2.0)]).is_err());
        assert!(two_way(&[(0, 0, 1.0), (0, 0, 1.0), (0, 1, 1.0), (0, 1, 1.0)]).is_err());
        assert!(two_way(&[(0, 0, f64::NAN), (0, 0, 1.0), (0, 1, 1.0), (0, 1, 2.0)]).is_err());
    }
}
