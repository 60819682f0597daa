//! Measurement windows: a program marks the part of its trial that matters with
//! `{"event": "begin"}` / `{"event": "end"}` lines; rigor stamps them as it reads them and
//! reduces the telemetry over the window as well as over the trial. The real binary, a
//! real Python program, host telemetry (no GPU needed).

use crate::common::{rigor_in, text};
use rusqlite::Connection;
use std::path::Path;

fn experiment(dir: &Path, program: &str) -> String {
    std::fs::write(dir.join("prog.py"), program).unwrap();
    let f = dir.join("w.toml");
    std::fs::write(
        &f,
        "[experiment]\nname = \"windows\"\ntrials = 2\n[telemetry]\ninterval = \"10ms\"\ngpu = false\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"python3 prog.py\"\n",
    )
    .unwrap();
    f.display().to_string()
}

fn values(db: &Connection, name: &str) -> Vec<f64> {
    let mut st = db
        .prepare("SELECT value FROM metric WHERE name = ?1 ORDER BY trial_id")
        .unwrap();
    st.query_map([name], |r| r.get(0))
        .unwrap()
        .map(|v| v.unwrap())
        .collect()
}

const MARK: &str = "import json, sys, time\n\
def mark(event, **kw):\n    print(json.dumps(dict(event=event, **kw)), flush=True)\n\
def burn(s):\n    end = time.monotonic() + s\n    while time.monotonic() < end:\n        pass\n";

#[test]
fn a_window_measures_only_the_part_it_marks() {
    let _alone = crate::common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    // 300 MiB held before the window and freed, then the window (visited twice), a named
    // window around one of the visits.
    let f = experiment(
        dir.path(),
        &format!(
            "{MARK}big = bytearray(300 << 20)\ntime.sleep(0.5)\ndel big\ntime.sleep(0.3)\n\
             mark('begin')\nburn(0.3)\nmark('end')\ntime.sleep(0.05)\n\
             mark('begin')\nmark('begin', window='second')\nburn(0.3)\nmark('end', window='second')\nmark('end')\n\
             time.sleep(0.2)\nprint(json.dumps(dict(metric='items', value=1000)))\n"
        ),
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let time = values(&db, "window_time");
    assert_eq!(time.len(), 2);
    for t in &time {
        // Two visits of 0.3 s each; the markers' delay is far below this tolerance.
        assert!((0.58..0.75).contains(t), "window_time {t} s");
    }
    for t in values(&db, "window_time.second") {
        assert!((0.28..0.4).contains(&t), "window_time.second {t} s");
    }
    // What happened before the window is in the trial's readings and not in the window's:
    // the 300 MiB peak of the trial's processes. (Memory, not CPU: machine-wide CPU moves
    // with whatever else the machine runs.)
    let (inside, whole) = (
        values(&db, "window.host.rss_tree_mib.peak"),
        values(&db, "host.rss_tree_mib.peak"),
    );
    assert_eq!(inside.len(), 2);
    for (w, t) in inside.iter().zip(&whole) {
        assert!(
            *t > 290.0 && *w < 100.0,
            "peak {w} MiB in the window, {t} MiB over the trial"
        );
    }
    assert_eq!(values(&db, "window.host.cpu_util_pct.mean").len(), 2);
    assert_eq!(values(&db, "window.second.host.cpu_util_pct.mean").len(), 2);
    // The marker lines are not metrics, and the program's own metric is still read.
    assert_eq!(values(&db, "items"), [1000.0, 1000.0]);
    // Where the window lay is kept with the trial's telemetry (for the figures).
    let tel: String = db
        .query_row("SELECT telemetry FROM trial LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let tel: serde_json::Value = serde_json::from_str(&tel).unwrap();
    assert_eq!(tel["windows"].as_array().map(Vec::len), Some(3), "{tel}");
    // Reports name the window's metrics beside the trial's.
    let md = text(&rigor_in(dir.path(), &["report", "s.db"]));
    assert!(md.contains("window_time"), "{md}");
}

#[test]
fn a_begin_without_its_end_fails_the_trial_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = experiment(
        dir.path(),
        &format!(
            "{MARK}mark('begin', window='decode')\nprint(json.dumps(dict(metric='x', value=1)))\n"
        ),
    );
    let out = rigor_in(
        dir.path(),
        &["run", &f, "--store", "s.db", "--progress", "none"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let db = Connection::open(dir.path().join("s.db")).unwrap();
    let reason: String = db
        .query_row(
            "SELECT reason FROM trial WHERE status = 'failed' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        reason.contains("window `decode`") && reason.contains("never its end"),
        "{reason}"
    );
    // Its value is not averaged in: no ok trial, no metric of a failed one in the report.
    let n: i64 = db
        .query_row("SELECT count(*) FROM trial WHERE status = 'ok'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0);
}
