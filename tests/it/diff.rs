//! `rigor diff`: two runs of one experiment, a planted 5% change, the verdict, the exit
//! status for CI, and what the comparison cannot see by itself (a changed file, cells in
//! one run only). The real binary on real stores.

use crate::common::{rigor_in, text};
use std::path::Path;

fn experiment(dir: &Path, extra_variant: bool) {
    let more = if extra_variant {
        "\n[[variant]]\nname = \"y\"\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("e.toml"),
        format!(
            r#"[experiment]
name = "d"
trials = 8

[[variant]]
name = "x"
{more}
[[workload]]
name = "w"
kind = "command"
command = "python3 -c 'import json,random; print(json.dumps({{\"metric\": \"t\", \"value\": float(open(\"scale\").read())*(1+random.random()*0.01), \"unit\": \"ms\", \"better\": \"lower\"}}))'"
"#
        ),
    )
    .unwrap();
}

fn run(dir: &Path, scale: &str) {
    std::fs::write(dir.join("scale"), scale).unwrap();
    let out = rigor_in(
        dir,
        &[
            "run",
            "e.toml",
            "--store",
            "a.db",
            "--progress",
            "none",
            "-q",
            "--new-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_planted_five_percent_slowdown_is_found_and_fails_ci() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), false);
    run(dir.path(), "1.00");
    run(dir.path(), "1.05");
    run(dir.path(), "1.00");

    let out = rigor_in(
        dir.path(),
        &["diff", "a.db#1", "a.db#2", "--fail-on", "slower"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    // 1.05 × (1 + U(0, 1%)) over (1 + U(0, 1%)): 4–6% slower, whatever the draws.
    assert!(
        ["4.", "5.", "6%"]
            .iter()
            .any(|p| t.contains(&format!("**t**: NEW is {p}")))
            && t.contains("% slower ["),
        "{t}"
    );
    assert!(t.contains("w[variant=x] t: NEW is"), "{t}");
    assert!(t.contains("The recorded environments are the same."), "{t}");
    // The other way round it is faster: not a failure for `slower`, one for `different`.
    let back = rigor_in(
        dir.path(),
        &["diff", "a.db#2", "a.db#3", "--fail-on", "slower"],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert!(text(&back).contains("% faster ["), "{}", text(&back));
    let either = rigor_in(
        dir.path(),
        &["diff", "a.db#2", "a.db#3", "--fail-on", "different"],
    );
    assert_eq!(either.status.code(), Some(1), "{}", text(&either));
    // Without --fail-on, a report and exit 0; JSON carries the same comparison.
    let j = rigor_in(
        dir.path(),
        &["diff", "a.db#1", "a.db#2", "--format", "json"],
    );
    assert!(j.status.success(), "{}", text(&j));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["diff"]["experiment_changed"], false);
    let h = rigor_in(
        dir.path(),
        &["diff", "a.db#1", "a.db#2", "--format", "html"],
    );
    let html = String::from_utf8_lossy(&h.stdout);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("rigor diff: <code>a.db#1</code>"),
        "{html}"
    );
    let s = v.to_string();
    assert!(s.contains("\"metric\":\"t\""), "{s}");
}

#[test]
fn a_changed_experiment_and_cells_in_one_run_only_are_named() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), false);
    run(dir.path(), "1.00");
    experiment(dir.path(), true);
    run(dir.path(), "1.00");
    let out = rigor_in(dir.path(), &["diff", "a.db#1", "a.db#2"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("The experiment changed between the runs"), "{t}");
    assert!(t.contains("Cells only in NEW, not compared: `y/w`"), "{t}");
    // A gate does not pass on what it could not compare: NEW lost a cell of OLD.
    let gate = rigor_in(
        dir.path(),
        &["diff", "a.db#2", "a.db#1", "--fail-on", "slower"],
    );
    assert_eq!(gate.status.code(), Some(1), "{}", text(&gate));
    assert!(
        text(&gate).contains("cells of OLD missing from NEW: y/w"),
        "{}",
        text(&gate)
    );
    // A run id that is not a number is refused with what was expected.
    let bad = rigor_in(dir.path(), &["diff", "a.db#one", "a.db#2"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("after `#` comes a run id"),
        "{}",
        text(&bad)
    );
}
