//! Every statistics entry point on values of any finite magnitude (1e-300 … 1e300, mixed
//! signs, 2 to 10^4 values): no panic, no NaN or infinity in a result, and the same
//! answer as on moderate values where the statistic does not depend on scale (the data
//! are moderate values times a power of two, so the scaled answer is known exactly).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rigor::stats::bootstrap::{BootMethod, Stat, bootstrap_ci, bootstrap_ratio};
use rigor::stats::compare::{Direction, Settings, finalize, infer, verdict};
use rigor::stats::*;

/// A result's Debug text must hold no NaN and no infinity.
fn clean<T: std::fmt::Debug>(what: &str, v: &T) {
    let s = format!("{v:?}");
    assert!(
        !s.contains("NaN") && !s.contains("inf"),
        "{what} gave a non-finite value: {s}"
    );
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-9 * a.abs().max(b.abs()).max(1e-300);
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}

/// A moderate sample: mixed signs when `signed`, some ties.
fn sample(rng: &mut ChaCha8Rng, n: usize, centre: f64, signed: bool) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let v = if rng.random_bool(0.1) {
                1.0
            } else {
                centre + rng.random_range(-1.0..1.0)
            };
            if signed && rng.random_bool(0.3) {
                -v
            } else {
                v
            }
        })
        .collect()
}

/// Runs every entry point on (x, y), and returns the scale-free answers for comparison.
fn all_entry_points(x: &[f64], y: &[f64], rng: &mut ChaCha8Rng) -> Vec<(String, f64)> {
    let mut free: Vec<(String, f64)> = Vec::new();
    // Bootstraps cost resamples × n; the property is about the arithmetic, not the
    // intervals' precision, so few resamples do.
    let resamples = if x.len() > 200 { 50 } else { 200 };
    let s = Settings {
        resamples,
        ..Settings::default()
    };
    clean("mean", &moments::mean(x));
    // The variance may exceed f64 (a spread above 1e154; documented): never NaN.
    assert!(!moments::var(&x[..2]).is_nan());
    if let Some(d) = summarize(x) {
        clean("summarize", &d);
    }
    if let Some(d) = describe::describe(x, 0.95) {
        clean("describe", &d);
    }
    if let Ok(ci) = ci::t_interval(x, 0.95) {
        clean("t_interval", &ci);
    }
    if let Ok(t) = hypothesis::welch(x, y, hypothesis::Alternative::TwoSided) {
        clean("welch", &t);
        free.push(("welch p".into(), t.p));
    }
    if let Ok(t) = hypothesis::student(x, y, hypothesis::Alternative::Less) {
        clean("student", &t);
        free.push(("student p".into(), t.p));
    }
    if let Ok(m) = hypothesis::mann_whitney(x, y, hypothesis::Alternative::TwoSided) {
        clean("mann_whitney", &m);
        free.push(("mann_whitney p".into(), m.p));
    }
    if let Ok(e) = effect::effect_sizes(x, y, 0.95) {
        clean("effect_sizes", &e);
        free.push(("hedges g".into(), e.hedges_g.value));
    }
    if let Ok(f) = ratio::fieller(x, y, 0.95) {
        clean("fieller", &f);
        free.push(("fieller ratio".into(), f.ratio));
    }
    if let Ok(p) = ratio::ratio_test(x, y, 1.05, hypothesis::Alternative::Greater) {
        clean("ratio_test", &p);
        free.push(("ratio_test p".into(), p));
    }
    if let Ok(t) = ratio::tost_ratio(x, y, 0.03) {
        clean("tost_ratio", &t);
        free.push(("tost p".into(), t.p));
    }
    let spread = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if let Ok(t) = ratio::tost_difference(x, y, -0.1 * spread, 0.1 * spread) {
        clean("tost_difference", &t);
        free.push(("tost_difference p".into(), t.p));
    }
    if let Ok(p) = power::welch_power(x, y, 0.05) {
        clean("welch_power", &p);
        free.push(("welch_power".into(), p));
    }
    if let Ok(p) = power::welch_power_at(x, y, 0.03 * spread, 0.05) {
        clean("welch_power_at", &p);
        free.push(("welch_power_at".into(), p));
    }
    if let Ok(w) = normality::shapiro_wilk(x) {
        clean("shapiro_wilk", &w);
        free.push(("shapiro W".into(), w.w));
    }
    if let Some(o) = outliers::tukey(x) {
        clean("tukey", &o.fences);
        free.push(("outliers".into(), (o.mild.len() + o.severe.len()) as f64));
    }
    if let Ok(m) = trend::mann_kendall(x) {
        clean("mann_kendall", &m);
        free.push(("mann_kendall p".into(), m.p));
    }
    // Bootstraps are O(resamples × n): the large samples get them once, not per method.
    let small = x.len() <= 200;
    for (stat, method) in [
        (Stat::Mean, BootMethod::Bca),
        (Stat::Median, BootMethod::Percentile),
    ] {
        if !small && stat == Stat::Median {
            continue;
        }
        if let Ok(b) = bootstrap_ci(x, stat, 0.95, resamples, method, rng) {
            clean("bootstrap_ci", &b);
        }
    }
    if let Ok(b) = bootstrap_ratio(x, y, 0.95, resamples, BootMethod::Bca, rng) {
        clean("bootstrap_ratio", &b);
    }
    if let Ok(mut i) = infer(y, x, &s, rng) {
        finalize(&mut [&mut i], &s);
        clean("infer", &i);
        let v = verdict(
            "x",
            &i,
            &s,
            Direction {
                lower_is_better: Some(true),
                time: false,
            },
        );
        assert!(!v.contains("NaN") && !v.contains("inf"), "{v}");
        free.push(("infer ratio".into(), i.ratio));
        free.push(("infer p".into(), i.p));
    }
    let p: Vec<f64> = free
        .iter()
        .filter(|(n, _)| n.ends_with(" p"))
        .map(|(_, p)| *p)
        .collect();
    clean("adjust", &multiple::adjust(&p, multiple::Correction::Holm));
    free
}

#[test]
fn every_entry_point_takes_any_finite_magnitude() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut cases = 0;
    for &n in &[2usize, 3, 5, 8, 13, 30, 100, 1000, 10_000] {
        let reps = if n >= 1000 { 1 } else { 12 };
        for _ in 0..reps {
            let signed = rng.random_bool(0.5);
            let x = sample(&mut rng, n, 10.0, signed);
            let y = sample(&mut rng, n.max(3) - 1, 10.5, signed);
            let base = all_entry_points(&x, &y, &mut ChaCha8Rng::seed_from_u64(1));
            // Powers of two from 2^-996 (~1e-300) to 2^996 (~1e300), and one near the top.
            let scales: &[i32] = if n >= 1000 {
                &[-996, 996, 1019]
            } else {
                &[-996, -500, -160, 160, 500, 996, 1019]
            };
            for &e in scales {
                let k = 2f64.powi(e);
                let xs: Vec<f64> = x.iter().map(|v| v * k).collect();
                let ys: Vec<f64> = y.iter().map(|v| v * k).collect();
                let got = all_entry_points(&xs, &ys, &mut ChaCha8Rng::seed_from_u64(1));
                assert_eq!(
                    got.iter().map(|g| &g.0).collect::<Vec<_>>(),
                    base.iter().map(|g| &g.0).collect::<Vec<_>>(),
                    "n {n}, scale 2^{e}: the same statistics must be computable"
                );
                for ((name, a), (_, b)) in got.iter().zip(&base) {
                    close(*a, *b, &format!("{name}, n {n}, scale 2^{e}"));
                }
                cases += 1;
            }
            // Magnitudes mixed within one sample.
            let mixed: Vec<f64> = x
                .iter()
                .enumerate()
                .map(|(i, v)| v * 2f64.powi([-996, 0, 996][i % 3]))
                .collect();
            all_entry_points(&mixed, &y, &mut ChaCha8Rng::seed_from_u64(1));
        }
    }
    assert!(cases > 400, "{cases}");
}

#[test]
fn values_at_the_edge_of_f64_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let edge = [
        vec![f64::MAX, -f64::MAX],
        vec![f64::MAX, f64::MAX * 0.5, -f64::MAX, 0.0],
        vec![f64::MIN_POSITIVE, 5e-324, 0.0, -5e-324],
        vec![1e300, 1e-300, -1e300, 3.0, 1e300],
        vec![f64::MAX; 3],
    ];
    for x in &edge {
        for y in &edge {
            all_entry_points(x, y, &mut rng);
        }
    }
}
