//! `rigor import hyperfine`: the real hyperfine (Debian's package) measures two commands,
//! its JSON is imported, and the report gives rigor's verdict with the warning that the
//! trials were not rigor's.

use crate::common::{rigor_in, text};
use std::process::Command;

#[test]
fn hyperfines_own_json_imports_and_reports_with_its_caveats() {
    let hyperfine = crate::common::require("hyperfine", "hyperfine");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(hyperfine)
        .current_dir(dir.path())
        .args([
            "--runs",
            "6",
            "-N",
            "--export-json",
            "hf.json",
            "sleep 0.01",
            "sleep 0.03",
            "false",
        ])
        .args(["--ignore-failure"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let imp = rigor_in(
        dir.path(),
        &["import", "hyperfine", "hf.json", "--store", "s.db"],
    );
    assert!(imp.status.success(), "{}", text(&imp));
    assert!(
        text(&imp).contains("imported 18 trial(s) of 3 variant(s)"),
        "{}",
        text(&imp)
    );
    let r = rigor_in(dir.path(), &["report", "s.db", "--format", "json"]);
    assert!(r.status.success(), "{}", text(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let s = v.to_string();
    // The imported caveat, the comparison, and `false`'s runs as failed trials.
    assert!(s.contains("\"kind\":\"imported\""), "{s}");
    assert!(s.contains("measured by hyperfine, not by rigor"), "{s}");
    let md = text(&rigor_in(dir.path(), &["report", "s.db"]));
    assert!(md.contains("**time**: sleep-0.03 is"), "{md}");
    assert!(md.contains("% slower ["), "{md}");
    assert!(
        md.contains("exit status 1 (hyperfine --ignore-failure)"),
        "{md}"
    );
    // Not hyperfine's JSON: refused, naming the file, nothing written.
    std::fs::write(dir.path().join("x.json"), "{\"runs\": []}").unwrap();
    let bad = rigor_in(
        dir.path(),
        &["import", "hyperfine", "x.json", "--store", "t.db"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("x.json: not hyperfine's --export-json output"),
        "{}",
        text(&bad)
    );
    assert!(!dir.path().join("t.db").exists());
}
