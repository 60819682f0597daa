//! `rigor import hyperfine`: the real hyperfine (Debian's package) measures two commands,
//! its JSON is imported, and the report gives rigor's verdict with the warning that the
//! trials were not rigor's.

use crate::common::{rigor_in, text};
use std::process::Command;

/// A committed import fixture's path (tests/fixtures/import/NAME).
fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `rigor import ARGS` in `dir` is refused (status 1) saying `why`, and writes no `store`.
fn refused(dir: &std::path::Path, args: &[&str], why: &str, store: &str) {
    let out = rigor_in(dir, args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(why), "{}", text(&out));
    assert!(!dir.join(store).exists(), "{store} was written");
}

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
    refused(
        dir.path(),
        &["import", "hyperfine", "x.json", "--store", "t.db"],
        "x.json: not hyperfine's --export-json output",
        "t.db",
    );
}

/// Real AIPerf result files (tests/fixtures/import/, made by
/// bench/import/aiperf-fixtures.sh: AIPerf 0.13 against the project's llama.cpp server with
/// 4 slots, then 1), three runs each, imported as two variants.
#[test]
fn aiperf_results_import_as_trials_of_their_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let f = |name: &str| fixture(&format!("aiperf-{name}.json"));
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
    refused(
        dir.path(),
        &["import", "aiperf", &twice, &twice, "--store", "u.db"],
        "was given twice",
        "u.db",
    );
    // A file that is not AIPerf's: refused, nothing written.
    std::fs::write(dir.path().join("x.json"), "{\"results\": []}").unwrap();
    refused(
        dir.path(),
        &["import", "aiperf", "x.json", "--store", "t.db"],
        "x.json: not AIPerf's",
        "t.db",
    );
}

/// Real `vllm bench serve --save-result` files (tests/fixtures/import/, made by
/// bench/import/vllm-fixtures.sh: vLLM 0.33's client against the project's llama.cpp server
/// with 4 slots, labelled `np4`, then 1, unlabelled), three runs each.
#[test]
fn vllm_results_import_as_trials_of_their_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let f = |name: &str| fixture(&format!("vllm-{name}.json"));
    // The np4 runs take their variant from vLLM's --label; the np1 runs are named here.
    let mut args = vec![
        "import".to_string(),
        "vllm".into(),
        "--store".into(),
        "s.db".into(),
    ];
    for run in 1..=3 {
        args.push(f(&format!("np4-{run}")));
    }
    for run in 1..=3 {
        args.push(format!("one-slot={}", f(&format!("np1-{run}"))));
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
    let cell =
        "`serve[endpoint=openai-chat,max_concurrency=4,model=m,num_prompts=40,request_rate=inf]`";
    assert!(
        md.contains(&format!("{cell} **llm.ttft_ms.median**: one-slot is")),
        "{md}"
    );
    for m in [
        "llm.ttft_ms.p99",
        "llm.tpot_ms.median",
        "llm.itl_ms.p90",
        "llm.e2e_ms.median",
        "llm.output_tok_s",
        "llm.req_s",
        "llm.failed",
        "llm.error_rate",
    ] {
        assert!(md.contains(&format!("### {m}")), "no {m}:\n{md}");
    }
    // vLLM's p50 is its median again: kept once.
    assert!(!md.contains("### llm.e2e_ms.p50"), "{md}");
    assert!(
        md.contains("measured by vLLM bench serve, not by rigor"),
        "{md}"
    );
    // Failed requests are counted, per trial, as the files say.
    let failed_in_files: u64 = (1..=3)
        .flat_map(|r| [format!("np4-{r}"), format!("np1-{r}")])
        .map(|n| {
            let d: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f(&n)).unwrap()).unwrap();
            d["failed"].as_u64().unwrap()
        })
        .sum();
    let csv = rigor_in(dir.path(), &["report", "s.db", "--format", "csv"]);
    let failed_in_store: f64 = text(&csv)
        .lines()
        .filter(|l| l.contains(",llm.failed,"))
        .map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            let at = cols.iter().position(|c| *c == "llm.failed").unwrap();
            cols[at + 1].parse::<f64>().unwrap()
        })
        .sum();
    assert_eq!(failed_in_store, failed_in_files as f64);
    // Unlabelled and unnamed: variant `vllm`; a label that is no usable name is made one,
    // never dropped (which would pool differently labelled runs).
    let plain = rigor_in(
        dir.path(),
        &["import", "vllm", &f("np1-1"), "--store", "v.db"],
    );
    assert!(text(&plain).contains("\n  vllm: "), "{}", text(&plain));
    let mut odd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("np1-2")).unwrap()).unwrap();
    odd["label"] = "tp 2/fast".into();
    std::fs::write(dir.path().join("odd.json"), odd.to_string()).unwrap();
    let named = rigor_in(
        dir.path(),
        &["import", "vllm", "odd.json", "--store", "w.db"],
    );
    assert!(text(&named).contains("\n  tp-2-fast: "), "{}", text(&named));
    // The same run twice would count as two trials: refused, nothing written.
    let twice = f("np4-1");
    refused(
        dir.path(),
        &["import", "vllm", &twice, &twice, "--store", "u.db"],
        "was given twice",
        "u.db",
    );
    // AIPerf's file is not vLLM's: refused.
    let aiperf = fixture("aiperf-np4-1.json");
    refused(
        dir.path(),
        &["import", "vllm", &aiperf, "--store", "t.db"],
        "not a result of vLLM's bench serve",
        "t.db",
    );
}

/// A real pytest-benchmark file (tests/fixtures/import/pytest-benchmark.json, made by
/// bench/import/pytest-benchmark-fixture.sh: pytest-benchmark 5.3 with
/// --benchmark-save-data): md5 against sha256 at two sizes, each round a trial.
#[test]
fn pytest_benchmark_rounds_import_as_trials_per_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("pytest-benchmark.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let rounds: usize = d["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["stats"]["data"].as_array().unwrap().len())
        .sum();
    let imp = rigor_in(
        dir.path(),
        &["import", "pytest-benchmark", &file, "--store", "p.db"],
    );
    assert!(imp.status.success(), "{}", text(&imp));
    assert!(
        text(&imp).contains(&format!("imported {rounds} trial(s) of 2 variant(s)")),
        "{}",
        text(&imp)
    );
    let md = text(&rigor_in(dir.path(), &["report", "p.db"]));
    // The first benchmark is the baseline; each parameter value is its own sweep point.
    for size in [4096, 65536] {
        assert!(
            md.contains(&format!(
                "`pytest-benchmark[size={size}]` **time**: test_md5 is"
            )),
            "{md}"
        );
    }
    assert!(
        md.contains("measured by pytest-benchmark, not by rigor"),
        "{md}"
    );
    // Without every round's time there is nothing to make trials of: refused, not guessed.
    let mut no_data = d.clone();
    for b in no_data["benchmarks"].as_array_mut().unwrap() {
        b["stats"].as_object_mut().unwrap().remove("data");
    }
    std::fs::write(dir.path().join("n.json"), no_data.to_string()).unwrap();
    refused(
        dir.path(),
        &["import", "pytest-benchmark", "n.json", "--store", "n.db"],
        "--benchmark-save-data",
        "n.db",
    );
}
