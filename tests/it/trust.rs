//! Trust under fire: hostile values, a second runner on the same store, a runner killed
//! with -9, a trial that floods its output. The real binary on real files and processes.

use crate::common::{rigor_in, text};

use rusqlite::Connection;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// Words that must never appear as a value in anything a user reads.
fn assert_finite_text(what: &str, s: &str) {
    for bad in ["NaN", " inf", "-inf", "inf%", "∞"] {
        assert!(!s.contains(bad), "{what} shows {bad:?}:\n{s}");
    }
}

#[test]
fn values_near_the_limits_of_f64_are_reported_in_every_format_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "big.toml",
        r#"[experiment]
name = "big"
trials = 5

[[variant]]
name = "a"
params = { f = "1.0" }
[[variant]]
name = "b"
params = { f = "1.1" }

[[workload]]
name = "w"
kind = "command"
command = "python3 -c 'import random,json; r=random.random; print(json.dumps({\"metric\": \"big\", \"value\": 1e300*{f}*(1+r()*0.01)})); print(json.dumps({\"metric\": \"edge\", \"value\": 1.7e308*(0.9+r()*0.01)*(-1)**random.randint(0,1)})); print(json.dumps({\"metric\": \"tiny\", \"value\": 1e-300*{f}*(1+r()*0.01)}))'"
"#,
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_finite_text("rigor run", &String::from_utf8_lossy(&out.stdout));
    for format in ["md", "json", "csv", "tex"] {
        let out = rigor_in(dir.path(), &["report", "s.db", "--format", format]);
        assert!(out.status.success(), "{format}: {}", text(&out));
        let body = String::from_utf8_lossy(&out.stdout).replace("inference", "");
        assert_finite_text(format, &body);
    }
    let md =
        String::from_utf8_lossy(&rigor_in(dir.path(), &["report", "s.db"]).stdout).into_owned();
    // b is 1.1 × (1 + U(0, 1%)) / (1 + U(0, 1%)) times a by construction: 8.9–11.1%
    // higher, whatever the random draws.
    assert!(
        ["8.9", "9.", "10%", "10.", "11%", "11."]
            .iter()
            .any(|p| md.contains(&format!("**big**: b is {p}"))),
        "{md}"
    );
    assert!(md.contains("e-300"), "tiny values keep their digits:\n{md}");

    // `rigor stats` on the same magnitudes, and a ratio beyond f64's range said in words.
    let a: Vec<String> = (0..20)
        .map(|i| format!("{}", 1e300 * (1.0 + i as f64 * 1e-3)))
        .collect();
    let b: Vec<String> = (0..20)
        .map(|i| format!("{}", 1e-300 * (1.0 + i as f64 * 1e-3)))
        .collect();
    let fa = write(dir.path(), "a.txt", &a.join("\n"));
    let fb = write(dir.path(), "b.txt", &b.join("\n"));
    let out = rigor_in(dir.path(), &["stats", &fb, &fa]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert_finite_text("rigor stats", &s);
    assert!(s.contains("beyond f64's range"), "{s}");
}

#[test]
fn non_finite_json_values_are_recorded_as_missing_with_the_value() {
    let dir = tempfile::tempdir().unwrap();
    // What Python's json.dumps writes for nan and inf: not JSON, and never silently lost.
    let f = write(
        dir.path(),
        "nan.toml",
        r#"[experiment]
name = "nan"
trials = 2

[[workload]]
name = "w"
kind = "command"
command = "python3 -c 'import json; print(json.dumps({\"metric\": \"rate\", \"value\": float(\"nan\")})); print(json.dumps({\"metric\": \"big\", \"value\": float(\"inf\")})); print(\"{\\\"metric\\\": \\\"huge\\\", \\\"value\\\": 1e400}\")'"

[[workload]]
name = "declared"
kind = "command"
command = "python3 -c 'import json; print(json.dumps({\"metric\": \"lat\", \"value\": float(\"nan\")}))'"
[[workload.metric]]
name = "lat"
unit = "ms"
better = "lower"
"#,
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let reason = |name: &str| -> String {
        db.query_row(
            "SELECT reason FROM missing_metric WHERE name = ?1 LIMIT 1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        reason("rate").contains("NaN (not a finite number)"),
        "{}",
        reason("rate")
    );
    assert!(reason("big").contains("Infinity"), "{}", reason("big"));
    assert!(reason("huge").contains("1e400"), "{}", reason("huge"));
    // The declared metric that only ever got NaN fails its trials, naming the value.
    let failed: String = db
        .query_row(
            "SELECT reason FROM trial WHERE cell_key LIKE '%declared%' AND status = 'failed' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        failed.contains("`lat`") && failed.contains("NaN"),
        "{failed}"
    );
}

fn slow_experiment(dir: &Path) -> String {
    write(
        dir,
        "slow.toml",
        "[experiment]\nname = \"slow\"\ntrials = 40\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"sleep 0.05\"\n",
    )
}

#[test]
fn one_store_has_one_runner_whatever_its_name_and_dead_sessions_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let f = slow_experiment(dir.path());
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(["run", &f, "--store", "s.db", "--progress", "none"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::os::unix::fs::symlink(dir.path().join("s.db"), dir.path().join("link.db")).unwrap();
    // Until the first runner holds the store (its session is recorded after the lock).
    crate::common::wait_for(Duration::from_secs(30), "a running session", || {
        Connection::open(dir.path().join("s.db"))
            .and_then(|db| {
                db.query_row(
                    "SELECT count(*) FROM session WHERE status = 'running'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .is_ok_and(|n| n == 1)
    });
    // The same store through a symlink, and through another relative path.
    for (cwd, store) in [
        (dir.path().to_path_buf(), "link.db"),
        (dir.path().join("sub"), "../s.db"),
    ] {
        let out = rigor_in(&cwd, &["run", &f, "--store", store, "--progress", "none"]);
        assert_eq!(out.status.code(), Some(1), "{store}: {}", text(&out));
        assert!(
            text(&out).contains("another rigor process is running on this store"),
            "{store}: {}",
            text(&out)
        );
    }
    // Killed with -9: its session stays `running` until the next runner takes the store.
    first.kill().unwrap();
    first.wait().unwrap();
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let running = |db: &Connection| -> i64 {
        db.query_row(
            "SELECT count(*) FROM session WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(running(&db), 1);
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "link.db", "--progress", "lines"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("marked `died`"), "{}", text(&out));
    assert_eq!(running(&db), 0);
    let died: i64 = db
        .query_row(
            "SELECT count(*) FROM session WHERE status = 'died'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(died, 1);
    let trials: i64 = db
        .query_row("SELECT count(*) FROM trial WHERE final = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(trials, 40, "exactly the planned trials, none twice");
}

#[test]
fn a_flooding_trial_keeps_the_head_and_tail_of_its_output_and_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // 4 MB of output with metric lines at the start, in the middle and at the end.
    let f = write(
        dir.path(),
        "flood.toml",
        r#"[experiment]
name = "flood"
trials = 1
log_limit = "64KiB"

[[workload]]
name = "w"
kind = "command"
command = "python3 -c 'import json,sys; m=lambda v: print(json.dumps({\"metric\": \"x\", \"value\": v})); m(1); [print(\"y\" * 99) for _ in range(20000)]; m(2); [print(\"z\" * 99) for _ in range(20000)]; m(3)'"
"#,
    );
    let start = Instant::now();
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(30));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    // Every sample was read before the log was cut.
    let (value, n): (f64, i64) = db
        .query_row(
            "SELECT value, n_samples FROM metric WHERE name = 'x'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((value, n), (2.0, 3));
    let notes: String = db
        .query_row("SELECT notes FROM trial", [], |r| r.get(0))
        .unwrap();
    assert!(
        notes.contains("bytes cut from the middle of its stdout"),
        "{notes}"
    );
    let log = dir.path().join("s-logs/run-1.stdout.log");
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len < 80 * 1024, "the log holds {len} bytes");
    let body = std::fs::read_to_string(&log).unwrap();
    assert!(body.contains("{\"metric\": \"x\", \"value\": 1}"));
    assert!(body.contains("{\"metric\": \"x\", \"value\": 3}"));
    assert!(body.contains("bytes cut here"));
}

#[test]
fn every_trial_records_the_cadence_its_telemetry_achieved() {
    let _alone = crate::common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "cadence.toml",
        "[experiment]\nname = \"cadence\"\ntrials = 2\n[telemetry]\ninterval = \"10ms\"\ngpu = false\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"sleep 0.6\"\n",
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let value = |name: &str| -> Vec<f64> {
        let mut st = db
            .prepare("SELECT value FROM metric WHERE name = ?1")
            .unwrap();
        st.query_map([name], |r| r.get(0))
            .unwrap()
            .map(|v| v.unwrap())
            .collect()
    };
    // 0.6 s at 10 ms: about 60 samples; a loaded 2-core machine may drop some.
    for n in value("telemetry.samples") {
        assert!((30.0..=70.0).contains(&n), "{n} samples");
    }
    for g in value("telemetry.gap_ms.median") {
        assert!((9.0..=15.0).contains(&g), "median gap {g} ms");
    }
    assert_eq!(value("telemetry.gap_ms.p99").len(), 2);
    assert_eq!(value("telemetry.gap_ms.max").len(), 2);
    assert_eq!(value("telemetry.sample_ms.mean").len(), 2);
    // Host readings still came, from the slow thread.
    assert_eq!(value("host.mem_used_mib.peak").len(), 2);
}

/// A server the trial starts in a process group of its own (as llm-serve does, to stop it
/// as a whole) is still the trial's: its memory counts in the trial's resident memory.
#[test]
fn a_child_in_a_group_of_its_own_counts_in_the_trials_memory() {
    let _alone = crate::common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let child = "import os, time; os.setpgid(0, 0); x = bytearray(300 << 20); time.sleep(1.0)";
    let f = write(
        dir.path(),
        "tree.toml",
        &format!(
            "[experiment]\nname = \"tree\"\ntrials = 1\n[telemetry]\ninterval = \"50ms\"\ngpu = false\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"sh -c 'python3 -c \\\"{child}\\\"; true'\"\n"
        ),
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let peak: f64 = db
        .query_row(
            "SELECT value FROM metric WHERE name = 'host.rss_tree_mib.peak'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        peak > 290.0,
        "the trial's resident memory peaked at {peak} MiB"
    );
}
