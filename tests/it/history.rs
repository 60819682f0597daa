//! `rigor history`: ten runs of one experiment with a planted 5% step at the sixth; the
//! step is found there and nowhere else, the trend figure is written. The real binary on a
//! real store.

use crate::common::{rigor_in, text};

#[test]
fn a_step_planted_at_run_six_is_found_at_six_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("e.toml"),
        r#"[experiment]
name = "h"
trials = 4

[[workload]]
name = "w"
kind = "command"
command = "python3 -c 'import json,random; print(json.dumps({\"metric\": \"t\", \"value\": float(open(\"scale\").read())*(1+random.random()*0.01), \"unit\": \"ms\", \"better\": \"lower\"}))'"
"#,
    )
    .unwrap();
    for run in 1..=10 {
        let scale = if run < 6 { "1.00" } else { "1.05" };
        std::fs::write(dir.path().join("scale"), scale).unwrap();
        let out = rigor_in(
            dir.path(),
            &[
                "run",
                "e.toml",
                "--store",
                "h.db",
                "--progress",
                "none",
                "-q",
                "--new-run",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = rigor_in(dir.path(), &["history", "h.db", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = v["series"].as_array().unwrap();
    let t = series
        .iter()
        .find(|s| s["metric"] == "t")
        .unwrap_or_else(|| panic!("no series of t: {v}"));
    assert_eq!(t["points"].as_array().map(Vec::len), Some(10));
    let steps = t["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["run_id"], 6);
    let (b, a) = (
        steps[0]["before_mean"].as_f64().unwrap(),
        steps[0]["after_mean"].as_f64().unwrap(),
    );
    assert!((a / b - 1.05).abs() < 0.01, "{b} → {a}");

    let out = rigor_in(dir.path(), &["history", "h.db", "--out", "hist"]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(dir.path().join("hist/history.md")).unwrap();
    assert!(md.contains("from run 6 on"), "{md}");
    assert!(md.contains("](figures/"), "{md}");
    let fig = std::fs::read_dir(dir.path().join("hist/figures"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(std::fs::read_to_string(fig).unwrap().contains("<svg"));
}
