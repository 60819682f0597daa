//! Group-sequential boundaries: Pocock's (1977) constant two-sided boundary for a test
//! repeated at every look as data accumulate, one look per added observation from `first`
//! to `last` observations. Under the null, the z statistic at look n is S_n/√n with S_n a
//! sum of n independent N(0, 1) increments; the boundary c is the one at which the chance
//! that any look crosses ±c is α. The crossing probability is computed by recursive
//! numerical integration of the density of S_n over the continuation region (Armitage,
//! McPherson & Rowe 1969; Jennison & Turnbull 2000, §19.2), on Simpson grids.
//!
//! Hand-written because no maintained Rust crate computes group-sequential boundaries;
//! checked against Pocock's published constants and against SciPy's multivariate normal
//! probabilities (tests/fixtures/stats/generate.py).

use super::dist::{norm_ppf, norm_sf};

/// Grid spacing, in units of one increment's standard deviation.
const H: f64 = 0.1;
/// φ(z) < 1e-15 beyond |z| = 8.5: kernel terms past it are dropped.
const CUT: f64 = 8.5;

fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// A Simpson grid over [−b, b]: points and their weights.
fn grid(b: f64) -> (Vec<f64>, Vec<f64>, f64) {
    // An even number of intervals, for Simpson's rule.
    let m = 2 * ((b / H).ceil() as usize).max(1);
    let dx = 2.0 * b / m as f64;
    let xs = (0..=m).map(|k| -b + k as f64 * dx).collect();
    let ws = (0..=m)
        .map(|k| {
            let w = if k == 0 || k == m {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * dx / 3.0
        })
        .collect();
    (xs, ws, dx)
}

/// P(|S_n|/√n ≥ c at some n in `first..=last`): the chance that a two-sided test with
/// boundary ±c at every look stops when there is no effect. `first` ≥ 1.
pub fn crossing_probability(first: u32, last: u32, c: f64) -> f64 {
    let first = first.max(1);
    if c <= 0.0 {
        return 1.0;
    }
    let n0 = first as f64;
    let (mut xs, mut ws, mut dx) = grid(c * n0.sqrt());
    // Density of S_first on the continuation region.
    let mut f: Vec<f64> = xs.iter().map(|x| phi(x / n0.sqrt()) / n0.sqrt()).collect();
    for n in first + 1..=last.max(first) {
        let (ys, wy, dy) = grid(c * (n as f64).sqrt());
        let x0 = xs[0];
        let wf: Vec<f64> = ws.iter().zip(&f).map(|(w, f)| w * f).collect();
        let g = ys
            .iter()
            .map(|&y| {
                let lo = (((y - CUT - x0) / dx).ceil().max(0.0)) as usize;
                let hi = ((((y + CUT - x0) / dx).floor()) as usize).min(xs.len() - 1);
                (lo..=hi).map(|i| wf[i] * phi(y - xs[i])).sum()
            })
            .collect();
        (xs, ws, dx, f) = (ys, wy, dy, g);
    }
    let stay: f64 = ws.iter().zip(&f).map(|(w, f)| w * f).sum();
    (1.0 - stay).clamp(0.0, 1.0)
}

/// Pocock's constant boundary for looks at `first..=last` observations and overall
/// two-sided level `alpha`: between the unadjusted z_{1−α/2} (one look) and Bonferroni's
/// z_{1−α/(2K)}, found by bisection to 1e-6.
pub fn pocock_constant(first: u32, last: u32, alpha: f64) -> f64 {
    let looks = last.max(first).saturating_sub(first.max(1)) + 1;
    let (mut lo, mut hi) = (
        norm_ppf(1.0 - alpha / 2.0),
        norm_ppf(1.0 - alpha / (2.0 * looks as f64)),
    );
    if looks == 1 {
        return lo;
    }
    while hi - lo > 1e-6 {
        let mid = 0.5 * (lo + hi);
        if crossing_probability(first, last, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The two-sided level each look tests at under Pocock's boundary: 2·P(Z > c).
pub fn pocock_nominal_alpha(first: u32, last: u32, alpha: f64) -> f64 {
    2.0 * norm_sf(pocock_constant(first, last, alpha))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_look_is_the_plain_test() {
        assert!((crossing_probability(5, 5, 1.959964) - 0.05).abs() < 1e-5);
        assert!((pocock_constant(7, 7, 0.05) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn more_looks_need_a_higher_boundary_but_less_than_bonferroni() {
        let c10 = pocock_constant(1, 10, 0.05);
        let c20 = pocock_constant(1, 20, 0.05);
        assert!(c10 < c20 && c20 < norm_ppf(1.0 - 0.05 / 40.0));
        assert!(crossing_probability(1, 10, c10 - 0.01) > 0.05);
    }
}
