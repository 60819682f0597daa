//! What users read, snapshot-tested (insta): the reports of a fixed store in every text
//! format, `rigor plan`, and the `--help` of every subcommand. A change to any of them
//! shows as a diff to review (`cargo insta review`), not as a silently different output.
//! The store (tests/fixtures/store/quickstart.db) is a real run of examples/quickstart.toml.

use std::path::PathBuf;
use std::process::Command;

fn rigor(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rigor {args:?}: {}",
        crate::common::text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The fixture store, copied, so that no test can change it.
fn store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quickstart.db");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store/quickstart.db"),
        &path,
    )
    .unwrap();
    (dir, path.display().to_string())
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
                (env!("CARGO_MANIFEST_DIR"), "[REPO]"),
                (r"rigor \d+\.\d+\.\d+", "rigor [VERSION]"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[test]
fn the_reports_of_a_fixed_store() {
    let (_dir, db) = store();
    for format in ["md", "tex", "csv", "json"] {
        snapshot!(
            format!("report-{format}"),
            rigor(&["report", &db, "--format", format])
        );
    }
}

#[test]
fn the_plan_of_the_quickstart() {
    snapshot!(
        "plan-quickstart",
        rigor(&[
            "plan",
            "examples/quickstart.toml",
            "--store",
            "no/such/store.db",
            "--show",
            "8"
        ])
    );
}

#[test]
fn the_help_of_every_subcommand() {
    snapshot!("help", rigor(&["--help"]));
    for sub in [
        "run",
        "plan",
        "report",
        "compare",
        "diff",
        "history",
        "import",
        "submit",
        "status",
        "merge",
        "env",
        "stats",
        "serve-bench",
        "completions",
        "man",
    ] {
        snapshot!(format!("help-{sub}"), rigor(&[sub, "--help"]));
    }
    for probe in ["gemm", "copy", "llm-serve"] {
        snapshot!(
            format!("help-probe-{probe}"),
            rigor(&["probe", probe, "--help"])
        );
    }
}
