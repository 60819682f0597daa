//! How adaptive stopping compares with a fixed N = 30 (issue 6): seed-like effects (0%, 2%,
//! 5%, 20% differences) at CV 1–10%, normal trials, `trials = { min = 5, max = 30,
//! ci_width = 0.02 }`. Each replication draws 30 trials per variant; the fixed design reads
//! all 30, the adaptive rule reads the first n, adding one trial per variant per round
//! while the comparison is open. Prints a Markdown table (docs/statistics.md) of the mean
//! trials used and how often the two verdicts agree.
//!
//! cargo bench --bench adaptive            (REPS=400 replications per scenario by default)

// A benchmark's output is its report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rigor::analyse::adaptive::{Settled, comparison};
use rigor::define::config::Adaptive;
use rigor::stats::compare::{Outcome, Settings, finalize, infer};

/// The report's verdict on one comparison: different (and which way), equivalent, or
/// inconclusive.
fn verdict(b: &[f64], v: &[f64], s: &Settings, rng: &mut rand_chacha::ChaCha8Rng) -> i8 {
    let Ok(mut i) = infer(b, v, s, rng) else {
        return 9;
    };
    finalize(&mut [&mut i], s);
    match i.outcome {
        Outcome::Different if i.ratio > 1.0 => 1,
        Outcome::Different => -1,
        Outcome::Equivalent => 0,
        Outcome::Inconclusive => 2,
    }
}

fn main() {
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(400);
    let (min, max) = (5u32, 30u32);
    let rule = Adaptive {
        max,
        ci_width: 0.02,
        budget: None,
        metrics: vec![],
    };
    let s = Settings {
        resamples: 1000,
        ..Settings::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    println!("| difference | CV | mean n (adaptive) | trials vs N = 30 | same verdict |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    let (mut used_all, mut agree_all, mut cases, mut scenarios) = (0.0, 0usize, 0usize, 0usize);
    for effect in [0.0, 0.02, 0.05, 0.20] {
        for cv in [0.01, 0.02, 0.05, 0.10] {
            let (mut used, mut agree) = (0usize, 0usize);
            for _ in 0..reps {
                let nb = Normal::new(100.0, 100.0 * cv).unwrap();
                let nv = Normal::new(100.0 * (1.0 + effect), 100.0 * (1.0 + effect) * cv).unwrap();
                let b: Vec<f64> = (0..max).map(|_| nb.sample(&mut rng)).collect();
                let v: Vec<f64> = (0..max).map(|_| nv.sample(&mut rng)).collect();
                let mut n = min as usize;
                while n < max as usize
                    && comparison(&b[..n], &v[..n], &rule, min, &s) == Settled::Open
                {
                    n += 1;
                }
                used += n;
                let fixed = verdict(&b, &v, &s, &mut rng);
                let early = verdict(&b[..n], &v[..n], &s, &mut rng);
                agree += usize::from(fixed == early);
            }
            let mean_n = used as f64 / reps as f64;
            used_all += mean_n / max as f64;
            agree_all += agree;
            cases += reps;
            scenarios += 1;
            println!(
                "| {:.0}% | {:.0}% | {mean_n:.1} | {:.0}% | {:.1}% |",
                effect * 100.0,
                cv * 100.0,
                100.0 * mean_n / max as f64,
                100.0 * agree as f64 / reps as f64
            );
        }
    }
    println!(
        "| all | | | {:.0}% | {:.1}% |",
        100.0 * used_all / scenarios as f64,
        100.0 * agree_all as f64 / cases as f64
    );
}
