//! Step changes in a series of run-level values (`rigor history`): binary segmentation
//! with a permutation test at each split, as in E-divisive (Matteson & James, "A
//! nonparametric approach for multiple change point analysis of multivariate data", JASA
//! 109(505), 2014), here with the standardised mean-shift (CUSUM) statistic of a single
//! series (Csörgő & Horváth, *Limit Theorems in Change-Point Analysis*, Wiley 1997, §1.4).
//!
//! The false-alarm rate is the permutation test's level: on a series without a step (its
//! values exchangeable), the first test fires with probability at most α, and no other test
//! is made unless it fires, so the chance of reporting any step is at most α. The
//! permutations are drawn from the seed passed in: the result is reproducible.

use rand::seq::SliceRandom;

/// One step found: the series changes between `at - 1` and `at` (0-based; `at` is the
/// first value after the step).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: usize,
    pub before_mean: f64,
    pub after_mean: f64,
    /// The permutation p-value of the split that found it.
    pub p: f64,
}

/// The largest standardised mean shift over the splits of `x` that leave at least
/// `min_len` values on each side, and where it is: `|m₂ − m₁| · √(n₁n₂/n) / s`, with `s`
/// the series' standard deviation. None when no split fits or the series is constant.
fn best_split(x: &[f64], min_len: usize) -> Option<(usize, f64)> {
    let n = x.len();
    if n < 2 * min_len {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // A constant series (or NaN in it) has no shift to find.
    if var.is_nan() || var <= 0.0 {
        return None;
    }
    let s = var.sqrt();
    let total: f64 = x.iter().sum();
    let mut left = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for k in 1..n {
        left += x[k - 1];
        if k < min_len || n - k < min_len {
            continue;
        }
        let (n1, n2) = (k as f64, (n - k) as f64);
        let shift = ((total - left) / n2 - left / n1).abs() * (n1 * n2 / n as f64).sqrt() / s;
        if best.is_none_or(|(_, b)| shift > b) {
            best = Some((k, shift));
        }
    }
    best
}

/// The steps in `x` at level `alpha`, in order. Each side of a step is searched again
/// (binary segmentation); `permutations` per test (999 gives p-values to 0.001).
pub fn steps(
    x: &[f64],
    alpha: f64,
    min_len: usize,
    permutations: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<Step> {
    let mut found = Vec::new();
    let mut todo = vec![(0usize, x.len())];
    while let Some((lo, hi)) = todo.pop() {
        let seg = &x[lo..hi];
        let Some((k, observed)) = best_split(seg, min_len.max(1)) else {
            continue;
        };
        let mut shuffled = seg.to_vec();
        let mut as_extreme = 0usize;
        for _ in 0..permutations {
            shuffled.shuffle(rng);
            if best_split(&shuffled, min_len.max(1)).is_some_and(|(_, s)| s >= observed - 1e-12) {
                as_extreme += 1;
            }
        }
        let p = (1 + as_extreme) as f64 / (1 + permutations) as f64;
        if p <= alpha {
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            found.push(Step {
                at: lo + k,
                before_mean: mean(&seg[..k]),
                after_mean: mean(&seg[k..]),
                p,
            });
            todo.push((lo, lo + k));
            todo.push((lo + k, hi));
        }
    }
    found.sort_by_key(|s| s.at);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn a_planted_step_is_found_where_it_is_and_nowhere_else() {
        // Ten runs, 1% noise, a 5% step at the sixth run (index 5).
        let noise = Normal::new(0.0, 0.01).unwrap();
        let mut r = rng(1);
        for seed in 0..20 {
            let mut g = rng(100 + seed);
            let x: Vec<f64> = (0..10)
                .map(|i| if i < 5 { 1.0 } else { 1.05 } + noise.sample(&mut g))
                .collect();
            let s = steps(&x, 0.05, 2, 999, &mut r);
            assert_eq!(s.len(), 1, "seed {seed}: {s:?} in {x:?}");
            assert_eq!(s[0].at, 5);
            assert!((s[0].after_mean / s[0].before_mean - 1.05).abs() < 0.02);
        }
    }

    #[test]
    fn without_a_step_false_alarms_stay_near_alpha() {
        let noise = Normal::new(1.0, 0.02).unwrap();
        let mut r = rng(7);
        let trials = 300;
        let alarms = (0..trials)
            .filter(|&seed| {
                let mut g = rng(1000 + seed);
                let x: Vec<f64> = (0..10).map(|_| noise.sample(&mut g)).collect();
                !steps(&x, 0.05, 2, 199, &mut r).is_empty()
            })
            .count();
        // Binomial(300, 0.05): mean 15, sd 3.8; 27 is beyond 3 sd.
        assert!(alarms <= 27, "{alarms} false alarms in {trials}");
    }

    #[test]
    fn two_steps_are_both_found_and_constant_series_have_none() {
        let x = [
            1.0, 1.01, 0.99, 1.0, 2.0, 2.01, 1.99, 2.0, 3.0, 3.01, 2.99, 3.0,
        ];
        let s = steps(&x, 0.05, 2, 999, &mut rng(3));
        assert_eq!(s.iter().map(|s| s.at).collect::<Vec<_>>(), vec![4, 8]);
        assert!(steps(&[5.0; 8], 0.05, 2, 99, &mut rng(3)).is_empty());
        assert!(steps(&[1.0, 2.0, 3.0], 0.05, 2, 99, &mut rng(3)).is_empty());
    }
}
