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

/// Real AIPerf result files (tests/fixtures/import/, made by
/// bench/import/aiperf-fixtures.sh: AIPerf 0.13 against the project's llama.cpp server with
/// 4 slots, then 1), three runs each, imported as two variants.
#[test]
fn aiperf_results_import_as_trials_of_their_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let f = |name: &str| {
        format!(
            "{}/tests/fixtures/import/aiperf-{name}.json",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let mut args = vec![
        "import".to_string(),
        "aiperf".into(),
        "--store".into(),
        "s.db".into(),
        "--name".into(),
        "slots".into(),
    ];
    for slots in ["np4", "np1"] {
        for run in 1..=3 {
            args.push(format!("{slots}={}", f(&format!("{slots}-{run}"))));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let imp = rigor_in(dir.path(), &args);
    assert!(imp.status.success(), "{}", text(&imp));
    assert!(
        text(&imp).contains("imported 6 trial(s) of 2 variant(s)"),
        "{}",
        text(&imp)
    );
    let md = text(&rigor_in(dir.path(), &["report", "s.db"]));
    // One cell per variant, named by AIPerf's configuration; the baseline is the first.
    assert!(
        md.contains("`serve[concurrency=4,endpoint=chat,isl=32,osl=16,streaming=true]` **llm.ttft_ms.median**: np1 is"),
        "{md}"
    );
    // AIPerf's inter-token latency is rigor's TPOT, its inter-chunk latency rigor's ITL.
    for m in [
        "llm.tpot_ms.median",
        "llm.itl_ms.median",
        "llm.output_tok_s",
        "llm.req_s",
        "llm.error_rate",
    ] {
        assert!(md.contains(&format!("### {m}")), "no {m}:\n{md}");
    }
    assert!(md.contains("measured by AIPerf, not by rigor"), "{md}");
    // The same AIPerf run twice would count as two trials: refused.
    let twice = f("np4-1");
    let dup = rigor_in(
        dir.path(),
        &["import", "aiperf", &twice, &twice, "--store", "u.db"],
    );
    assert_eq!(dup.status.code(), Some(1));
    assert!(text(&dup).contains("was given twice"), "{}", text(&dup));
    assert!(!dir.path().join("u.db").exists());
    // A file that is not AIPerf's: refused, nothing written.
    std::fs::write(dir.path().join("x.json"), "{\"results\": []}").unwrap();
    let bad = rigor_in(
        dir.path(),
        &["import", "aiperf", "x.json", "--store", "t.db"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("x.json: not AIPerf's"),
        "{}",
        text(&bad)
    );
    assert!(!dir.path().join("t.db").exists());
}
