//! `[[derived]]` metrics, `exact` counts and `[analysis] compare`: the real binary on a
//! real program, the report's JSON read back.

use crate::common::{rigor_in, text};
use std::path::Path;

fn experiment(dir: &Path, b_items: u32, extra: &str) -> String {
    // Variant b sleeps twice as long inside its window; both process 1000 items (or
    // `b_items` in b).
    std::fs::write(
        dir.join("prog.py"),
        "import json, sys, time\n\
         f = float(sys.argv[1]); items = int(sys.argv[2])\n\
         print(json.dumps({'event': 'begin'}), flush=True)\n\
         time.sleep(0.15 * f)\n\
         print(json.dumps({'event': 'end'}), flush=True)\n\
         print(json.dumps({'metric': 'items', 'value': items}))\n\
         print(json.dumps({'metric': 'zero', 'value': 0}))\n",
    )
    .unwrap();
    let f = dir.join("d.toml");
    std::fs::write(
        &f,
        format!(
            r#"[experiment]
name = "derived"
trials = 4
baseline = "a"

[telemetry]
interval = "10ms"
gpu = false

[[variant]]
name = "a"
params = {{ f = "1", n = "1000" }}

[[variant]]
name = "b"
params = {{ f = "2", n = "{b_items}" }}

[[workload]]
name = "w"
kind = "command"
command = "python3 prog.py {{f}} {{n}}"

[[workload.metric]]
name = "items"
better = "higher"
exact = true

[[workload.metric]]
name = "zero"
better = "lower"

[[derived]]
name = "s_per_kitem"
expr = "window_time / (items / 1000)"
unit = "s/kitem"
better = "lower"

[[derived]]
name = "per_zero"
expr = "items / zero"
better = "lower"

[[hypothesis]]
metric = "s_per_kitem"
variant = "b"
claim = "slower"
margin = 0.5
{extra}"#
        ),
    )
    .unwrap();
    f.display().to_string()
}

fn report(dir: &Path, f: &str) -> serde_json::Value {
    let out = rigor_in(dir, &["run", f, "--store", "s.db", "--progress", "none"]);
    assert!(out.status.code() != Some(2), "{}", text(&out));
    let r = rigor_in(dir, &["report", "s.db", "--format", "json"]);
    assert!(r.status.success(), "{}", text(&r));
    serde_json::from_slice(&r.stdout).unwrap()
}

fn warning<'a>(r: &'a serde_json::Value, kind: &str) -> Option<&'a str> {
    r["analysis"]["warnings"]
        .as_array()
        .or_else(|| r["warnings"].as_array())?
        .iter()
        .find(|w| w["kind"] == kind)
        .and_then(|w| w["message"].as_str())
}

#[test]
fn derived_metrics_are_per_trial_compared_and_claimed_and_missing_with_the_reason() {
    let _alone = crate::common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let f = experiment(
        dir.path(),
        1000,
        "\n[analysis]\ncompare = [\"window.host.cpu_util_pct.mean\"]\n",
    );
    let r = report(dir.path(), &f);
    let comparisons = r["analysis"]["comparisons"]
        .as_array()
        .or_else(|| r["comparisons"].as_array())
        .unwrap_or_else(|| panic!("no comparisons in {r}"));
    let cmp = |m: &str| comparisons.iter().find(|c| c["metric"] == m);
    // The derived metric, compared like any other: b took twice as long per item.
    let ratio = cmp("s_per_kitem").expect("s_per_kitem compared")["ratio"]
        .as_f64()
        .unwrap();
    assert!((1.8..2.3).contains(&ratio), "ratio {ratio}");
    // A telemetry metric joins the comparisons when `compare` names it; others do not.
    assert!(cmp("window.host.cpu_util_pct.mean").is_some());
    assert!(cmp("host.cpu_util_pct.mean").is_none());
    // The claim on the derived metric is decided.
    let claims = r["analysis"]["claims"]
        .as_array()
        .or_else(|| r["claims"].as_array())
        .unwrap();
    assert_eq!(claims[0]["verdict"], "supported", "{}", claims[0]);
    // A division by zero is missing, with its reason; never inf or 0.
    let missing = warning(&r, "missing-metric").unwrap_or_default();
    assert!(
        missing.contains("per_zero") && missing.contains("`zero` is 0 (a division by zero)"),
        "{missing}"
    );
    // An exact count identical everywhere raises no stub warning.
    let stub = warning(&r, "identical-values").unwrap_or_default();
    assert!(!stub.contains("items"), "{stub}");
    assert!(warning(&r, "exact-differs").is_none());
}

#[test]
fn an_exact_count_that_differs_between_variants_is_a_warning() {
    let _alone = crate::common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let f = experiment(dir.path(), 999, "");
    let r = report(dir.path(), &f);
    let w = warning(&r, "exact-differs").unwrap_or_else(|| panic!("no exact-differs in {r}"));
    assert!(
        w.contains("items = 1000 in a/w[f=1,n=1000] but 999 in b/w[f=2,n=999]"),
        "{w}"
    );
}

#[test]
fn bad_derived_and_compare_entries_are_refused_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str, want: &[&str]| {
        let f = experiment(dir.path(), 1000, extra);
        let out = rigor_in(dir.path(), &["plan", &f]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        for w in want {
            assert!(t.contains(w), "want {w:?} in:\n{t}");
        }
    };
    check(
        "\n[[derived]]\nname = \"bad\"\nexpr = \"items / * 2\"\nbetter = \"lower\"\n",
        &["d.toml:", "derived[2].expr", "unexpected `*`"],
    );
    check(
        "\n[[derived]]\nname = \"wall_time\"\nexpr = \"items\"\nbetter = \"lower\"\n",
        &["derived[2].name", "`wall_time` is already a metric"],
    );
    check(
        "\n[analysis]\ncompare = [\"items\"]\n",
        &["analysis.compare", "`items` is not a telemetry metric"],
    );
}
