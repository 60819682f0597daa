//! Speed of the statistics: 20 cells × 1,000 trials each, every cell against the first
//! (summaries, t-intervals, Shapiro–Wilk, Mann–Kendall drift, Tukey fences, Welch,
//! Mann–Whitney, Fieller, effect sizes, TOST, power, Holm). Target: under 1 s on the
//! 2-core development machine. Half the cells are log-normal with 12 trials' worth of
//! skew so the bootstrap path runs too.
//!
//! Then the growth with sample size (`rigor stats` on two samples of 10^4, 10^5 and 10^6
//! values): every routine on the report path is O(n log n) or better, so each tenfold
//! step should cost about 10–13×, not 100× (the Mann–Kendall double loop took 4.6 s at
//! 10^5 and did not finish at 10^6).
//!
//! cargo bench --bench analysis

// A benchmark's output is its report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rand::{RngExt, SeedableRng};
use rigor::analyse::samples::analyze_samples;
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
    let mut last: Option<f64> = None;
    for n in [10_000usize, 100_000, 1_000_000] {
        let two: Vec<(String, Vec<f64>)> = (0..2)
            .map(|c| {
                (
                    format!("s{c}"),
                    (0..n)
                        .map(|_| normal(10.0 + c as f64 * 0.01, 0.3))
                        .collect(),
                )
            })
            .collect();
        let t = Instant::now();
        let r = analyze_samples(&two, 0, &settings, 7, dir);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.comparisons.len(), 1);
        match last {
            Some(prev) => println!(
                "2 samples × {n} values: {:.1} ms ({:.1}× the tenth of it; O(n log n) is ~11×)",
                secs * 1e3,
                secs / prev
            ),
            None => println!("2 samples × {n} values: {:.1} ms", secs * 1e3),
        }
        last = Some(secs);
    }
}
