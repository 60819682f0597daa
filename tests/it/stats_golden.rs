//! rigor's statistics against SciPy / statsmodels / pymannkendall. The fixture is made by
//! tests/fixtures/stats/generate.py (the versions are recorded in it).

use rigor::stats::bootstrap::{BootMethod, Stat, bootstrap_ci, bootstrap_ratio};
use rigor::stats::ci::t_interval;
use rigor::stats::dist::{nct_cdf, t_cdf, t_ppf};
use rigor::stats::effect::effect_sizes;
use rigor::stats::hypothesis::{Alternative, UMethod, mann_whitney, student, welch};
use rigor::stats::multiple::{Correction, adjust};
use rigor::stats::normality::shapiro_wilk;
use rigor::stats::outliers::fences;
use rigor::stats::power::{n_per_group, ttest_power, welch_power};
use rigor::stats::ratio::{fieller, ratio_test, tost_difference, tost_ratio};
use rigor::stats::trend::mann_kendall;
use rigor::stats::{StatsError, percentile, summarize};
use serde_json::Value;

const REL: f64 = 1e-9;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/golden.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[track_caller]
fn close(what: &str, got: f64, want: &Value, rel: f64) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference"));
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol || (got - want).abs() <= 1e-15,
        "{what}: got {got:e}, SciPy {want:e} (relative error {:e})",
        ((got - want) / want).abs()
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn alt(name: &str) -> Alternative {
    match name {
        "two-sided" => Alternative::TwoSided,
        "less" => Alternative::Less,
        _ => Alternative::Greater,
    }
}

#[test]
fn distributions_match_scipy() {
    let g = golden();
    for c in g["t"].as_array().unwrap() {
        let (p, df) = (c["p"].as_f64().unwrap(), c["df"].as_f64().unwrap());
        close(&format!("t.ppf({p}, {df})"), t_ppf(p, df), &c["ppf"], 1e-11);
        let x = c["cdf_at"].as_f64().unwrap();
        close(&format!("t.cdf({x}, {df})"), t_cdf(x, df), &c["cdf"], 1e-11);
    }
    for c in g["nct"].as_array().unwrap() {
        let (x, df, nc) = (
            c["x"].as_f64().unwrap(),
            c["df"].as_f64().unwrap(),
            c["nc"].as_f64().unwrap(),
        );
        // AS 243's series is accurate in absolute terms (lower tails lose relative digits).
        let want = c["cdf"].as_f64().unwrap();
        let got = nct_cdf(x, df, nc);
        assert!(
            (got - want).abs() < 1e-10,
            "nct.cdf({x}, {df}, {nc}): {got:e} vs {want:e}"
        );
    }
}

#[test]
fn descriptive_and_one_sample_methods_match() {
    for (name, pair) in golden()["pairs"].as_object().unwrap() {
        for side in ["baseline", "variant"] {
            let x = floats(&pair[side]);
            let d = &pair[format!("describe_{side}")];
            let what = |m: &str| format!("{name}/{side}: {m}");
            let s = summarize(&x).unwrap();
            close(&what("mean"), s.mean, &d["mean"], REL);
            close(&what("median"), s.median, &d["median"], REL);
            close(&what("sd"), s.sd.unwrap(), &d["sd"], REL);
            close(&what("q1"), s.q1, &d["q1"], REL);
            close(&what("q3"), s.q3, &d["q3"], REL);
            let mut sorted = x.clone();
            sorted.sort_by(f64::total_cmp);
            close(&what("p90"), percentile(&sorted, 90.0), &d["p90"], REL);
            close(&what("p99"), percentile(&sorted, 99.0), &d["p99"], REL);
            let f = fences(&x).unwrap();
            close(&what("iqr"), f.iqr, &d["iqr"], REL);
            close(&what("mild lo"), f.mild[0], &d["tukey"]["mild_lo"], REL);
            close(
                &what("severe hi"),
                f.severe[1],
                &d["tukey"]["severe_hi"],
                REL,
            );
            if d.get("t_interval").is_none() {
                // Constant sample: every method that needs variation says so.
                assert!(matches!(shapiro_wilk(&x), Err(StatsError::Constant { .. })));
                assert!(matches!(mann_kendall(&x), Err(StatsError::Constant { .. })));
                continue;
            }
            let ti = t_interval(&x, 0.95).unwrap();
            close(&what("t interval lo"), ti[0], &d["t_interval"][0], REL);
            close(&what("t interval hi"), ti[1], &d["t_interval"][1], REL);
            let sw = shapiro_wilk(&x).unwrap();
            close(&what("shapiro W"), sw.w, &d["shapiro"][0], 1e-9);
            // p is a function of ln(1 − W), which multiplies W's last-digit differences
            // (SciPy's coefficients use a 7-digit normal quantile) by 1/(1 − W), ~200 at
            // n = 500: agreement to 1e-7.
            close(&what("shapiro p"), sw.p, &d["shapiro"][1], 1e-7);
            let mk = mann_kendall(&x).unwrap();
            close(&what("MK s"), mk.s, &d["mann_kendall"]["s"], REL);
            close(&what("MK var"), mk.var_s, &d["mann_kendall"]["var_s"], REL);
            close(&what("MK z"), mk.z, &d["mann_kendall"]["z"], REL);
            close(&what("MK p"), mk.p, &d["mann_kendall"]["p"], 1e-8);
            close(&what("MK tau"), mk.tau, &d["mann_kendall"]["tau"], REL);
        }
    }
}

#[test]
fn two_sample_methods_match() {
    let (mut checked, mut refused) = (0, 0);
    for (name, pair) in golden()["pairs"].as_object().unwrap() {
        let (b, v) = (floats(&pair["baseline"]), floats(&pair["variant"]));
        let what = |m: &str| format!("{name}: {m}");
        if pair.get("student").is_none() {
            // No variance in either sample: SciPy returns NaN; rigor refuses with a reason.
            let zero = |r: Result<(), StatsError>| {
                let e = r.expect_err(name);
                assert!(matches!(e, StatsError::ZeroVariance { .. }), "{name}: {e}");
            };
            zero(welch(&v, &b, Alternative::TwoSided).map(|_| ()));
            zero(student(&v, &b, Alternative::TwoSided).map(|_| ()));
            zero(fieller(&v, &b, 0.95).map(|_| ()));
            zero(tost_ratio(&v, &b, 0.03).map(|_| ()));
            zero(effect_sizes(&v, &b, 0.95).map(|_| ()));
            assert!(
                welch(&v, &b, Alternative::TwoSided)
                    .unwrap_err()
                    .to_string()
                    .contains("zero variance")
            );
            refused += 1;
            continue;
        }
        checked += 1;
        for a in ["two-sided", "less", "greater"] {
            let w = welch(&v, &b, alt(a)).unwrap();
            let r = &pair[format!("welch_{a}")];
            close(&what("welch t"), w.t, &r["t"], REL);
            close(&what("welch df"), w.df, &r["df"], REL);
            close(&what(&format!("welch p {a}")), w.p, &r["p"], REL);
            let u = mann_whitney(&v, &b, alt(a)).unwrap();
            let r = &pair[format!("mwu_{a}")];
            close(&what("U"), u.u, &r["u"], REL);
            close(&what(&format!("U p {a}")), u.p, &r["p"], REL);
            let method = if u.method == UMethod::Exact {
                "exact"
            } else {
                "asymptotic"
            };
            assert_eq!(method, r["method"].as_str().unwrap(), "{name}");
        }
        let s = student(&v, &b, Alternative::TwoSided).unwrap();
        close(&what("student t"), s.t, &pair["student"]["t"], REL);
        close(&what("student p"), s.p, &pair["student"]["p"], REL);
        let e = effect_sizes(&v, &b, 0.95).unwrap();
        let r = &pair["effect"];
        close(&what("cohen d"), e.cohen_d.value, &r["cohen_d"], REL);
        close(
            &what("cohen d lo"),
            e.cohen_d.ci[0],
            &r["cohen_d_ci"][0],
            REL,
        );
        close(&what("hedges g"), e.hedges_g.value, &r["hedges_g"], REL);
        close(
            &what("hedges g hi"),
            e.hedges_g.ci[1],
            &r["hedges_g_ci"][1],
            REL,
        );
        close(&what("cliff"), e.cliffs_delta, &r["cliffs_delta"], REL);
        let f = fieller(&v, &b, 0.95).unwrap();
        let r = &pair["fieller"];
        close(&what("ratio"), f.ratio, &r["ratio"], REL);
        close(&what("fieller df"), f.df, &r["df"], REL);
        close(&what("fieller lo"), f.lo.unwrap(), &r["lo"], REL);
        close(&what("fieller hi"), f.hi.unwrap(), &r["hi"], REL);
        let m = pair["tost_ratio"]["margin"].as_f64().unwrap();
        let t = tost_ratio(&v, &b, m).unwrap();
        close(
            &what("tost ratio lower"),
            t.p_lower,
            &pair["tost_ratio"]["p_lower"],
            REL,
        );
        close(
            &what("tost ratio upper"),
            t.p_upper,
            &pair["tost_ratio"]["p_upper"],
            REL,
        );
        let mb = summarize(&b).unwrap().mean;
        let t = tost_difference(&v, &b, -m * mb, m * mb).unwrap();
        close(&what("tost diff"), t.p, &pair["tost_diff"]["p"], REL);
        for case in pair["ratio_test"].as_array().unwrap() {
            let theta = case["theta"].as_f64().unwrap();
            let a = case["alternative"].as_str().unwrap();
            let p = ratio_test(&v, &b, theta, alt(a)).unwrap();
            close(
                &what(&format!("ratio test {theta} {a}")),
                p,
                &case["p"],
                REL,
            );
        }
        close(
            &what("welch power"),
            welch_power(&v, &b, 0.05).unwrap(),
            &pair["welch_power"],
            1e-8,
        );
    }
    assert!(checked >= 8, "only {checked} pairs compared");
    assert_eq!(refused, 1, "the both-constant pair");
}

#[test]
fn adjustments_and_power_match_statsmodels() {
    let g = golden();
    let p = floats(&g["adjust"]["p"]);
    for (key, method) in [
        ("bonferroni", Correction::Bonferroni),
        ("holm", Correction::Holm),
        ("bh", Correction::BenjaminiHochberg),
    ] {
        for (i, (got, want)) in adjust(&p, method)
            .iter()
            .zip(g["adjust"][key].as_array().unwrap())
            .enumerate()
        {
            close(&format!("{key}[{i}]"), *got, want, REL);
        }
    }
    for c in g["power"].as_array().unwrap() {
        let (d, n, a) = (
            c["d"].as_f64().unwrap(),
            c["n"].as_f64().unwrap(),
            c["alpha"].as_f64().unwrap(),
        );
        close(
            &format!("power d={d} n={n}"),
            ttest_power(d, n, a),
            &c["power"],
            1e-9,
        );
    }
    for c in g["solve_n"].as_array().unwrap() {
        let (d, a, pw) = (
            c["d"].as_f64().unwrap(),
            c["alpha"].as_f64().unwrap(),
            c["power"].as_f64().unwrap(),
        );
        // statsmodels solves with brentq to its default tolerance: agreement to 1e-6.
        close(
            &format!("n for d={d}"),
            n_per_group(d, a, pw).unwrap(),
            &c["n"],
            1e-6,
        );
    }
}

#[test]
fn bootstrap_is_reproducible_and_brackets_the_estimate() {
    use rand::SeedableRng;
    let x = [9.8, 10.1, 10.4, 9.9, 10.0, 10.3, 10.2, 11.5];
    let y = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95];
    for method in [BootMethod::Percentile, BootMethod::Bca] {
        for stat in [Stat::Mean, Stat::Median] {
            let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let a = bootstrap_ci(&x, stat, 0.95, 2000, method, &mut r1).unwrap();
            let b = bootstrap_ci(&x, stat, 0.95, 2000, method, &mut r2).unwrap();
            assert_eq!(a, b);
            assert!(a.lo <= a.estimate && a.estimate <= a.hi, "{a:?}");
            assert_eq!(a.resamples, 2000);
        }
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let c = bootstrap_ratio(&x, &y, 0.95, 2000, method, &mut r).unwrap();
        assert!(c.lo < c.estimate && c.estimate < c.hi, "{c:?}");
    }
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    assert!(
        bootstrap_ci(
            &[2.0, 2.0, 2.0],
            Stat::Mean,
            0.95,
            100,
            BootMethod::Bca,
            &mut r
        )
        .is_err()
    );
}

#[test]
fn pocock_boundaries_match_scipy_and_the_published_constants() {
    use rigor::stats::sequential::{crossing_probability, pocock_constant};
    let g = golden();
    for c in g["sequential"].as_array().unwrap() {
        let (a, b) = (
            c["first"].as_u64().unwrap() as u32,
            c["last"].as_u64().unwrap() as u32,
        );
        // SciPy's multivariate normal probability is a quasi-Monte Carlo integral (absolute
        // error about 1e-5); the boundary agrees to 1e-4.
        let got = pocock_constant(a, b, c["alpha"].as_f64().unwrap());
        let want = c["c"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-4,
            "Pocock c for looks {a}..{b}: {got} vs {want}"
        );
        let p = crossing_probability(a, b, 2.4);
        let want = c["crossing_at_2_4"].as_f64().unwrap();
        assert!(
            (p - want).abs() < 2e-5,
            "crossing at 2.4, looks {a}..{b}: {p} vs {want}"
        );
    }
    // Pocock (1977), Table 1; Jennison & Turnbull (2000), Table 2.1: K = 2, 5, 10 at α = 0.05.
    for (k, published) in [(2, 2.178), (5, 2.413), (10, 2.555)] {
        assert!((pocock_constant(1, k, 0.05) - published).abs() < 5e-4);
    }
}

#[test]
fn two_way_anova_matches_statsmodels_type_ii() {
    let g = golden();
    for (name, c) in g["anova"].as_object().unwrap() {
        let rows: Vec<(usize, usize, f64)> = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[0].as_u64().unwrap() as usize,
                    r[1].as_u64().unwrap() as usize,
                    r[2].as_f64().unwrap(),
                )
            })
            .collect();
        let t = rigor::stats::anova::two_way(&rows).unwrap();
        let ab = t.interaction.as_ref().unwrap();
        for (term, got) in [("a", t.a.as_ref().unwrap()), ("b", &t.b), ("ab", ab)] {
            close(&format!("{name} {term} ss"), got.ss, &c[term]["ss"], 1e-8);
            close(&format!("{name} {term} df"), got.df, &c[term]["df"], REL);
            close(&format!("{name} {term} F"), got.f, &c[term]["f"], 1e-8);
            close(&format!("{name} {term} p"), got.p, &c[term]["p"], 1e-7);
        }
        close(
            &format!("{name} residual"),
            t.residual_ss,
            &c["residual_ss"],
            1e-9,
        );
        close(
            &format!("{name} residual df"),
            t.residual_df,
            &c["residual_df"],
            REL,
        );
        for (j, want) in c["b_effects_from_0"].as_array().unwrap().iter().enumerate() {
            let got = t.b_effects[j] - t.b_effects[0];
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-10,
                "{name} lane {j}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn capacity_level_tests_and_isotonic_fit_match_statsmodels_and_scipy() {
    let g = golden();
    let c = &g["capacity"];
    let groups: Vec<Vec<f64>> = c["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|grp| {
            grp.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
    let got = rigor::stats::capacity::level_tests(&refs);
    for (i, (t, want)) in got.iter().zip(c["tests"].as_array().unwrap()).enumerate() {
        close(&format!("level {i} mean"), t.mean, &want["mean"], 1e-12);
        close(
            &format!("level {i} p_holds"),
            t.p_holds,
            &want["p_holds"],
            1e-7,
        );
        close(
            &format!("level {i} p_fails"),
            t.p_fails,
            &want["p_fails"],
            1e-7,
        );
    }
    let iso = &c["isotonic"];
    let f = |k: &str| -> Vec<f64> {
        iso[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let fit = rigor::stats::capacity::isotonic(&f("y"), &f("w"));
    for (i, (got, want)) in fit.iter().zip(f("fit")).enumerate() {
        assert!((got - want).abs() < 1e-12, "isotonic {i}: {got} vs {want}");
    }
}
