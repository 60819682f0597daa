//! Speed of the statistics: 20 cells × 1,000 trials each, every cell against the first
//! (summaries, t-intervals, Shapiro–Wilk, Mann–Kendall drift, Tukey fences, Welch,
//! Mann–Whitney, Fieller, effect sizes, TOST, power, Holm). Target: under 1 s on the
//! 2-core development machine. Half the cells are log-normal with 12 trials' worth of
//! skew so the bootstrap path runs too.
//!
//! cargo bench --bench analysis

use rand::{RngExt, SeedableRng};
use rigor::samples::analyze_samples;
use rigor::stats::compare::{Direction, Settings};
use std::time::Instant;

fn main() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut normal = |m: f64, s: f64| {
        let (u1, u2): (f64, f64) = (rng.random(), rng.random());
        m + s * (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let big: Vec<(String, Vec<f64>)> = (0..20)
        .map(|c| {
            let v = (0..1000)
                .map(|_| {
                    let x = normal(10.0 + c as f64 * 0.01, 0.3);
                    if c % 2 == 0 { x } else { x.exp() / 1e4 + 10.0 }
                })
                .collect();
            (format!("cell{c}"), v)
        })
        .collect();
    // Small skewed cells take the rank-test + bootstrap path (5,000 resamples each).
    let small: Vec<(String, Vec<f64>)> = (0..20)
        .map(|c| {
            let v = (0..12)
                .map(|_| normal(0.0, 0.8).exp() + c as f64 * 0.01)
                .collect();
            (format!("small{c}"), v)
        })
        .collect();
    let dir = Direction {
        lower_is_better: Some(true),
        time: true,
    };
    let settings = Settings::default();
    for (label, data) in [
        ("20 cells × 1000 trials", &big),
        ("20 cells × 12 skewed trials", &small),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = analyze_samples(data, 0, &settings, 7, dir);
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(r.comparisons.len(), 19);
        }
        times.sort_by(f64::total_cmp);
        let med = times[2];
        println!(
            "{label}: median {:.1} ms of 5 runs ({:.3}× the 1 s budget)",
            med * 1e3,
            med
        );
    }
}
