//! Lanes on this machine: CPU lanes for command workloads, end to end with the real binary,
//! real processes and a real store. (GPU lanes are checked on a two-GPU machine: see
//! docs/lanes.md.)

use crate::common::text;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rigor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A directory for a test of two CPU lanes.
fn lane_dir() -> tempfile::TempDir {
    crate::common::require_two_cpus();
    tempfile::tempdir().unwrap()
}

fn experiment(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, body).unwrap();
    p
}

fn run(dir: &Path, file: &Path) -> Output {
    rigor(
        dir,
        &[
            "run",
            file.to_str().unwrap(),
            "--store",
            "s.db",
            "--progress",
            "lines",
        ],
    )
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// (lane, phase, start, end) of every final trial, times in seconds.
fn intervals(db: &Connection) -> Vec<(i64, String, f64, f64)> {
    let mut stmt = db
        .prepare(
            "SELECT lane, phase, started_at, wall_s FROM trial WHERE final = 1 ORDER BY started_at",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let lane: i64 = r.get(0)?;
        let phase: String = r.get(1)?;
        let at: String = r.get(2)?;
        let wall: f64 = r.get(3)?;
        Ok((lane, phase, at, wall))
    })
    .unwrap()
    .map(|r| {
        let (lane, phase, at, wall) = r.unwrap();
        // 2026-11-30T23:41:45.828Z → seconds of the day, enough to order one short run.
        let t = &at[11..at.len() - 1];
        let mut parts = t.split(':');
        let h: f64 = parts.next().unwrap().parse().unwrap();
        let m: f64 = parts.next().unwrap().parse().unwrap();
        let s: f64 = parts.next().unwrap().parse().unwrap();
        let start = h * 3600.0 + m * 60.0 + s;
        (lane, phase, start, start + wall)
    })
    .collect()
}

const LANES: &str = r#"
[experiment]
name = "lanes"
trials = 4
warmup = 1
seed = 5
lanes = { cpus = ["0", "1"], isolation = 2 }
[[variant]]
name = "a"
[[variant]]
name = "b"
[[workload]]
name = "w"
kind = "command"
command = "sh -c 'echo lane=$RIGOR_LANE; grep Cpus_allowed_list /proc/self/status; sleep 0.3'"
"#;

#[test]
fn cpu_lanes_run_side_by_side_balanced_pinned_and_alone_when_asked() {
    let _alone = crate::common::exclusive();
    let tmp = lane_dir();
    let d = tmp.path();
    let f = experiment(d, "lanes", LANES);

    let plan = rigor(d, &["plan", f.to_str().unwrap()]);
    let p = String::from_utf8_lossy(&plan.stdout);
    assert!(
        p.contains("+ 2 alone (isolation check)")
            && p.contains("lanes: 2 side by side (cpus 0, cpus 1)"),
        "{p}"
    );
    assert!(p.contains("lane 1 alone  a/w isolation"), "{p}");

    let t0 = Instant::now();
    let out = run(d, &f);
    let took = t0.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    // 12 trials of 0.3 s: 3.6 s one at a time; 2 lanes with 2 alone trials ≈ 2.1 s.
    assert!(
        took < Duration::from_secs_f64(3.4),
        "two lanes took {took:?}: not side by side"
    );
    let db = Connection::open(d.join("s.db")).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM trial WHERE final = 1"), 12);
    // Each cell's measured trials: twice on each lane; each lane warms up once.
    for lane in 0..2 {
        for cell in ["a/w", "b/w"] {
            let sql = format!(
                "SELECT count(*) FROM trial WHERE lane = {lane} AND cell_key = '{cell}' AND phase = 'measure'"
            );
            assert_eq!(count(&db, &sql), 2, "{cell} on lane {lane}");
        }
        let sql = format!("SELECT count(*) FROM trial WHERE lane = {lane} AND phase = 'warmup'");
        assert_eq!(count(&db, &sql), 1, "warm-ups on lane {lane}");
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM trial WHERE phase = 'isolation' AND cell_key = 'a/w'"
        ),
        2
    );
    // Every trial ran on its lane's CPU and knew its lane.
    let mut stmt = db
        .prepare("SELECT lane, lane_device, stdout_log, stdout_offset, stdout_len FROM trial")
        .unwrap();
    let rows: Vec<(i64, String, String, i64, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (lane, device, log, offset, len) in rows {
        assert_eq!(device, format!("cpus {lane}"));
        assert!(
            log.ends_with(&format!("run-1.lane{lane}.stdout.log")),
            "{log}"
        );
        let bytes = std::fs::read(d.join(&log)).unwrap();
        let out = String::from_utf8_lossy(&bytes[offset as usize..(offset + len) as usize]);
        assert!(
            out.contains(&format!("lane={lane}"))
                && out.contains(&format!("Cpus_allowed_list:\t{lane}")),
            "lane {lane}: {out}"
        );
    }
    // The lanes overlapped, and an alone trial overlapped nothing.
    let iv = intervals(&db);
    let overlaps = |a: &(i64, String, f64, f64), b: &(i64, String, f64, f64)| {
        a.2 < b.3 - 0.01 && b.2 < a.3 - 0.01
    };
    let mut side_by_side = 0;
    for (i, a) in iv.iter().enumerate() {
        for b in &iv[i + 1..] {
            if overlaps(a, b) {
                side_by_side += 1;
                assert!(
                    a.1 != "isolation" && b.1 != "isolation",
                    "an alone trial overlapped another: {a:?} {b:?}"
                );
                assert_ne!(a.0, b.0, "one lane ran two trials at once");
            }
        }
    }
    assert!(side_by_side >= 4, "{side_by_side} overlapping pairs");

    // The report reads the lanes: per-lane means, the tests, the isolation check.
    let json = rigor(d, &["report", "s.db", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let lanes = &v["analysis"]["lanes"];
    assert_eq!(lanes["lanes"], serde_json::json!(["cpus 0", "cpus 1"]));
    let g = &lanes["groups"][0];
    assert_eq!(g["metric"], "wall_time");
    assert_eq!(g["means"].as_array().unwrap().len(), 4);
    assert!(g["test"]["lane"]["p"].as_f64().is_some(), "{g}");
    let iso = &lanes["isolation"][0];
    // Beside: the cell's trials with the other lane busy through at least half of each;
    // the rest (a drain before an alone trial, the run's tail) are counted as left out.
    let (beside, left_out) = (
        iso["n_beside"].as_u64().unwrap(),
        iso["n_not_beside"].as_u64().unwrap(),
    );
    assert_eq!(iso["n_alone"].as_u64(), Some(2));
    assert!(beside >= 2 && beside + left_out == 4, "{iso}");
    assert!(["equivalent", "differs", "inconclusive"].contains(&iso["outcome"].as_str().unwrap()));
    let md = rigor(d, &["report", "s.db", "--format", "md"]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("## Lanes") && md.contains("### Isolation check"),
        "{md}"
    );
}

#[test]
fn a_slower_lane_is_a_finding_not_noise() {
    let _alone = crate::common::exclusive();
    let tmp = lane_dir();
    let d = tmp.path();
    // Lane 1 is 60% slower for both variants: a finding even on a loaded test machine.
    let f = experiment(
        d,
        "slow",
        r#"
[experiment]
name = "slow"
trials = 6
lanes = { cpus = ["0", "1"], isolation = 0 }
[[variant]]
name = "a"
[[variant]]
name = "b"
[[workload]]
name = "w"
kind = "command"
command = "sh -c 'if [ $RIGOR_LANE = 1 ]; then sleep 0.08; else sleep 0.05; fi'"
"#,
    );
    let out = run(d, &f);
    assert!(out.status.success(), "{}", text(&out));
    let md = rigor(d, &["report", "s.db", "--format", "md"]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("the lanes give different results"), "{md}");
    assert!(md.contains("lane 1 (cpus 1) is"), "{md}");
    assert!(
        !md.contains("### Isolation check"),
        "isolation = 0 runs no check"
    );
}

#[test]
fn kill_9_during_lanes_then_resume_ends_with_exactly_the_plan() {
    let tmp = lane_dir();
    let d = tmp.path();
    let f = experiment(
        d,
        "k",
        &LANES
            .replace("sleep 0.3", "sleep 0.4")
            .replace("name = \"lanes\"", "name = \"k\""),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "run",
            f.to_str().unwrap(),
            "--store",
            "s.db",
            "--progress",
            "none",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed while both lanes are busy: after the warm-ups, mid measured trials.
    let t0 = Instant::now();
    loop {
        let done = if d.join("s.db").exists() {
            Connection::open(d.join("s.db"))
                .and_then(|db| {
                    db.query_row("SELECT count(*) FROM trial", [], |r| r.get::<_, i64>(0))
                })
                .unwrap_or(0)
        } else {
            0
        };
        if done >= 5 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let out = run(d, &f);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped process group"),
        "trials left running are stopped: {err}"
    );
    let db = Connection::open(d.join("s.db")).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM trial WHERE final = 1"), 12);
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial"),
        12,
        "no trial twice"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT cell_key, phase, idx FROM trial)"
        ),
        12
    );
    let status: String = db
        .query_row("SELECT status FROM run", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "complete");
}

#[test]
fn lanes_that_cannot_be_are_refused_at_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (lanes, says) in [
        (
            "{ gpus = [0], cpus = [\"0\"] }",
            "lanes are either GPUs or CPU sets",
        ),
        ("{ cpus = [\"0-3\", \"3-5\"] }", "CPU 3 is in two lanes"),
        ("{ cpus = [\"2-1\"] }", "`2-1` is not a CPU list"),
        ("{ gpus = [0, 0] }", "GPU 0 is named twice"),
        ("{ cpus = [\"0\"], numa = true }", "numa pins a GPU lane"),
        ("{ gpu = [0] }", "gpu"),
    ] {
        let f = experiment(
            d,
            "bad",
            &format!(
                "[experiment]\nname = \"bad\"\nlanes = {lanes}\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n"
            ),
        );
        let out = rigor(d, &["plan", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{lanes}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml:3:"), "{lanes}: {err}");
        assert!(err.contains(says), "{lanes}: {err}");
    }
    // A CPU this machine does not have is refused when the run starts, before any trial.
    let f = experiment(
        d,
        "far",
        "[experiment]\nname = \"far\"\nlanes = { cpus = [\"0\", \"60000\"] }\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
    );
    let out = run(d, &f);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lane 1 names CPU 60000"), "{err}");
}

#[test]
fn each_attempt_is_recorded_before_the_next_begins_with_one_lane_or_two() {
    let tmp = lane_dir();
    let d = tmp.path();
    // Each attempt writes how many attempts are already recorded for its trial (in the
    // store, or in its journal until the store has them), then fails until its third
    // attempt: every attempt must find all earlier ones recorded.
    let probe = d.join("seen.py");
    std::fs::write(
        &probe,
        r#"import json, os, sqlite3, sys
store, out, cell = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {a for (a,) in sqlite3.connect(store).execute(
    "SELECT attempt FROM trial WHERE cell_key = ? AND phase = 'measure' AND idx = 0", (cell,)
)}
if os.path.exists(store + ".journal"):
    for line in open(store + ".journal"):
        try:
            a = json.loads(line)
        except ValueError:
            continue
        if a["key"] == {"cell": cell, "phase": "measure", "index": 0}:
            seen.add(a["attempt"])
n = len(seen)
with open(out, "a") as f:
    f.write(f"{n}\n")
sys.exit(0 if n >= 2 else 1)
"#,
    )
    .unwrap();
    for (name, lanes) in [
        ("one", ""),
        ("two", "lanes = { cpus = [\"0\", \"1\"], isolation = 0 }"),
    ] {
        let f = experiment(
            d,
            name,
            &format!(
                "[experiment]\nname = \"{name}\"\ntrials = 1\nretries = 2\n{lanes}\n[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"python3 {} {} {{variant}}-{name}.txt {{variant}}/w\"\n",
                probe.display(),
                d.join(format!("{name}.db")).display()
            ),
        );
        let out = rigor(
            d,
            &[
                "run",
                f.to_str().unwrap(),
                "--store",
                &format!("{name}.db"),
                "--progress",
                "none",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        for v in ["a", "b"] {
            let seen = std::fs::read_to_string(d.join(format!("{v}-{name}.txt"))).unwrap();
            assert_eq!(seen, "0\n1\n2\n", "{name} lanes, variant {v}");
        }
    }
}
