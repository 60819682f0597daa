//! End-to-end tests: the real `rigor` binary on real experiment files, real processes and a
//! real SQLite store.

use crate::common::text;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rigor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
}

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.tmp.path()
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn store(&self) -> PathBuf {
        self.path().join("results.db")
    }
    /// `rigor <args>` in this directory, with the store inside it.
    fn run(&self, args: &[&str]) -> Output {
        rigor()
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap()
    }
    /// `rigor run FILE` on this directory's store, to be started by the caller.
    fn run_command(&self, file: &Path, progress: &str) -> Command {
        let mut cmd = rigor();
        cmd.args(["run", file.to_str().unwrap(), "--store"])
            .arg(self.store())
            .args(["--progress", progress])
            .current_dir(self.path());
        cmd
    }
    fn run_file(&self, file: &Path, extra: &[&str]) -> Output {
        self.run_command(file, "lines")
            .args(extra)
            .output()
            .unwrap()
    }
    fn db(&self) -> Connection {
        Connection::open(self.store()).unwrap()
    }
    /// The Markdown report on stdout (`rigor report STORE`).
    fn report_md(&self) -> String {
        let out = self.run(&["report", self.store().to_str().unwrap()]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn report_json(&self) -> serde_json::Value {
        let out = self.run(&["report", self.store().to_str().unwrap(), "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn quickstart_runs_and_reports_every_cell() {
    // Its verdicts are asserted: no server load beside it.
    let _alone = crate::common::exclusive();
    let d = Dir::new();
    let qs = example("quickstart.toml");
    let out = d.run_file(&qs, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("checksum · throughput [MiB/s], higher is better"),
        "{stdout}"
    );
    let json = d.report_json();
    let cells = json["analysis"]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for c in cells {
        assert_eq!(c["ok"], 5, "{c}");
        assert_eq!(c["metrics"]["throughput"]["stats"]["n"], 5);
        assert_eq!(c["metrics"]["hash_time"]["unit"], "ms");
        assert!(c["metrics"]["wall_time"]["stats"]["mean"].as_f64().unwrap() > 0.0);
    }
    // Tests run side by side on a small machine, so short hashes can be noisy (variation,
    // drift, outliers, and comparisons the noise leaves undecided); nothing else may be
    // wrong with the quickstart.
    let noise = [
        "high-variation",
        "drift",
        "severe-outliers",
        "no-difference-unproven",
    ];
    assert_eq!(
        json["analysis"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| !noise.contains(&w["kind"].as_str().unwrap_or("")))
            .count(),
        0,
        "{}",
        json["analysis"]["warnings"]
    );
    // Every variant is compared with the baseline on every metric, with a verdict.
    let comparisons = json["analysis"]["comparisons"].as_array().unwrap();
    assert_eq!(
        comparisons.len(),
        2 * 2 * 6,
        "2 variants × 2 sizes × 6 metrics"
    );
    for c in comparisons {
        let v = c["verdict"].as_str().unwrap();
        assert!(!v.is_empty(), "{c}");
        // Which hash is fastest depends on the CPU (SHA extensions make sha256 the fastest),
        // and how sure the test is on how busy the machine is: the verdict must follow the
        // numbers, whichever they are.
        if c["metric"] == "throughput" {
            let i = &c["inference"];
            let (p, ratio) = (
                i["p_adjusted"].as_f64().unwrap(),
                i["ratio"].as_f64().unwrap(),
            );
            if p < 0.05 {
                let word = if ratio > 1.0 {
                    "higher (better)"
                } else {
                    "lower (worse)"
                };
                assert!(v.contains(word), "{v}");
            } else {
                assert!(!v.contains("higher") && !v.contains("lower"), "{v}");
            }
        }
    }
    // A verdict line for each sweep point; which verdict depends on how busy the machine
    // is (the tests run in parallel), so only its presence is asserted here.
    assert!(stdout.contains("md5 at [mb=8]: "), "{stdout}");
    // 3 variants × 2 sizes × (5 measured + 1 warm-up)
    assert_eq!(
        count(&d.db(), "SELECT count(*) FROM trial WHERE final = 1"),
        36
    );
}

#[test]
fn a_sweep_makes_the_cross_product_and_a_tidy_csv() {
    let d = Dir::new();
    let f = d.write(
        "sweep.toml",
        r#"
[experiment]
name = "sweep"
trials = 2
order = "interleaved"
[[variant]]
name = "base"
[[variant]]
name = "env"
env = { FACTOR = "3" }
[[workload]]
name = "echo"
kind = "command"
command = ["sh", "-c", "echo '{\"metric\":\"score\",\"value\":'$(( {a} * {b} * ${FACTOR:-1} ))',\"unit\":\"pt\",\"better\":\"higher\"}'"]
params = { a = [1, 2], b = [10, 20, 30] }
"#,
    );
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let json = d.report_json();
    assert_eq!(json["analysis"]["cells"].as_array().unwrap().len(), 12);
    let cmp = json["analysis"]["comparisons"].as_array().unwrap();
    let score: Vec<_> = cmp.iter().filter(|c| c["metric"] == "score").collect();
    assert_eq!(score.len(), 6);
    for c in score {
        assert_eq!(c["ratio"].as_f64().unwrap(), 3.0, "{c}");
    }
    let csv = d.run(&["report", d.store().to_str().unwrap(), "--format", "csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.contains("param_a,param_b"), "{header}");
    let score_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",score,")).collect();
    assert_eq!(score_rows.len(), 24, "one row per trial and metric");
    assert!(
        score_rows
            .iter()
            .any(|l| l.contains("env,echo,2,30,") && l.contains(",score,180.0,pt,higher,")),
        "{csv}"
    );
}

#[test]
fn a_failing_trial_is_recorded_retried_excluded_and_named() {
    let d = Dir::new();
    let f = d.write(
        "fail.toml",
        r#"
[experiment]
name = "fail"
trials = 3
retries = 1
[[workload]]
name = "w"
kind = "command"
command = "sh -c 'test {n} -ne 2 || { echo boom >&2; exit 7; }; echo ok'"
params = { n = [1, 2] }
"#,
    );
    let out = d.run_file(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning [failed-trials]: 3 measured trial(s) failed"),
        "{stdout}"
    );
    assert!(stdout.contains("exit status 7"), "{stdout}");
    let db = d.db();
    // n=2: 3 trials × 2 attempts, all failed; n=1: 3 ok.
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE status = 'failed'"),
        6
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM trial WHERE status = 'failed' AND final = 1"
        ),
        3
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE status = 'ok'"),
        3
    );
    let (log, offset, len): (String, i64, i64) = db
        .query_row(
            "SELECT stderr_log, stderr_offset, stderr_len FROM trial WHERE status = 'failed' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let bytes = std::fs::read(log).unwrap();
    assert_eq!(
        &bytes[offset as usize..(offset + len) as usize],
        b"boom\n",
        "the trial's own stderr, exactly"
    );
    let json = d.report_json();
    let failed_cell = json["analysis"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"]["params"]["n"] == 2)
        .unwrap()
        .clone();
    assert_eq!(failed_cell["ok"], 0);
    assert_eq!(failed_cell["failed"], 3);
    assert!(
        failed_cell["metrics"].as_object().unwrap().is_empty(),
        "failed trials never enter statistics"
    );
}

#[test]
fn a_trial_past_its_timeout_is_killed_and_recorded() {
    let d = Dir::new();
    let f = d.write(
        "slow.toml",
        r#"
[experiment]
name = "slow"
trials = 1
timeout = "300ms"
[[workload]]
name = "w"
kind = "command"
command = "sleep {s}"
params = { s = [0, 30] }
"#,
    );
    let t0 = Instant::now();
    let out = d.run_file(&f, &[]);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the timeout must stop the trial"
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let db = d.db();
    let (status, reason): (String, String) = db
        .query_row(
            "SELECT status, reason FROM trial WHERE cell_key LIKE '%s=30%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "timeout");
    assert!(reason.contains("timed out after 300ms"), "{reason}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE status = 'ok'"),
        1
    );
}

fn expect_config_error(d: &Dir, name: &str, body: &str, location: &str, needles: &[&str]) {
    let f = d.write(name, body);
    let out = d.run_file(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{name}:{location}")),
        "{name}: expected location {location} in\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{name}: expected {n:?} in\n{err}");
    }
    assert!(
        !d.store().exists() || count(&d.db(), "SELECT count(*) FROM trial") == 0,
        "nothing may run"
    );
}

#[test]
fn malformed_files_name_the_line_the_field_and_a_fix() {
    let d = Dir::new();
    let head = "[experiment]\nname = \"bad\"\n";
    let wl = "[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"echo {n}\"\nparams = { n = [1] }\n";
    expect_config_error(
        &d,
        "typo.toml",
        &format!("{head}trails = 3\n{wl}"),
        "3:1",
        &["field `experiment.trails`", "hint: did you mean `trials`?"],
    );
    expect_config_error(
        &d,
        "order.toml",
        &format!("{head}order = \"random\"\n{wl}"),
        "3:9",
        &[
            "field `experiment.order`",
            "unknown variant `random`",
            "did you mean `randomized`?",
        ],
    );
    expect_config_error(
        &d,
        "baseline.toml",
        &format!("{head}baseline = \"nativ\"\n[[variant]]\nname = \"native\"\n{wl}"),
        "3:12",
        &[
            "field `experiment.baseline`",
            "no variant is named `nativ`",
            "did you mean `native`?",
        ],
    );
    expect_config_error(
        &d,
        "placeholder.toml",
        &format!(
            "{head}[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"echo {{sise}}\"\nparams = {{ size = [1] }}\n"
        ),
        "6:17",
        &[
            "field `workload[0].command`",
            "`{sise}` is not a parameter",
            "did you mean `{size}`?",
        ],
    );
    expect_config_error(
        &d,
        "syntax.toml",
        &format!("{head}trials = [1,\n"),
        "3:",
        &["not valid TOML"],
    );
    expect_config_error(
        &d,
        "duration.toml",
        &format!("{head}cooldown = \"5 parsecs\"\n{wl}"),
        "3:12",
        &["field `experiment.cooldown`", "not a duration", "hint:"],
    );
    expect_config_error(
        &d,
        "noworkload.toml",
        head,
        "",
        &["no workload is defined", "hint: add a `[[workload]]`"],
    );
    expect_config_error(
        &d,
        "regex.toml",
        &format!(
            "{wl}[[workload.metric]]\nname = \"x\"\nregex = 'x=(\\d+) y=(\\d+)'\nbetter = \"lower\"\n{head}"
        ),
        "8:9",
        &["field `workload[0].metric[0].regex`", "group named `value`"],
    );
    expect_config_error(
        &d,
        "kind.toml",
        &format!("{head}[[workload]]\nname = \"w\"\nkind = \"comand\"\ncommand = \"true\"\n"),
        "5:8",
        &["field `workload[0].kind`", "did you mean `command`?"],
    );
    expect_config_error(
        &d,
        "unused.toml",
        &format!(
            "{head}[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\nparams = {{ size = [1, 2] }}\n"
        ),
        "7:19",
        &["parameter `size` is swept but never used"],
    );
    expect_config_error(
        &d,
        "margin.toml",
        &format!("{head}{wl}[analysis]\nalpha = 0.01\nmargin = 3\n"),
        "10:10",
        &[
            "field `analysis.margin`",
            "0.03 for ±3%",
            "docs/statistics.md",
        ],
    );
}

fn resume_experiment(d: &Dir) -> PathBuf {
    d.write(
        "resume.toml",
        r#"
[experiment]
name = "resume"
trials = 4
warmup = 1
order = "shuffled"
seed = 3
[[variant]]
name = "a"
[[variant]]
name = "b"
[[workload]]
name = "w"
kind = "command"
command = "sleep 0.{d}"
params = { d = [1, 2] }
"#,
    )
}

/// `rigor run` in the background, output captured, for tests that signal it.
fn spawn_run(d: &Dir, file: &Path) -> std::process::Child {
    d.run_command(file, "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_trials(d: &Dir, n: i64) {
    let t0 = Instant::now();
    loop {
        // Opening the store before the runner creates it would create an empty file.
        let done = if d.store().exists() {
            Connection::open(d.store())
                .and_then(|db| {
                    db.query_row("SELECT count(*) FROM trial", [], |r| r.get::<_, i64>(0))
                })
                .unwrap_or(0)
        } else {
            0
        };
        if done >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_exactly_the_plan(d: &Dir) {
    let db = d.db();
    // 4 cells × (4 measured + 1 warm-up), each exactly once, no duplicate attempts.
    assert_eq!(count(&db, "SELECT count(*) FROM trial WHERE final = 1"), 20);
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial"),
        20,
        "no trial may be recorded twice"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT cell_key, phase, idx FROM trial)"
        ),
        20
    );
    assert_eq!(count(&db, "SELECT count(*) FROM run"), 1);
    let status: String = db
        .query_row("SELECT status FROM run", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "complete");
}

/// The attempts a runner recorded: in the store, or only in its journal so far (the store
/// gets them in batches; the next runner imports the journal).
fn recorded(d: &Dir) -> std::collections::BTreeSet<(String, String, i64, i64)> {
    let mut all = in_store(d);
    let mut journal = d.store().into_os_string();
    journal.push(".journal");
    for line in std::fs::read_to_string(journal).unwrap_or_default().lines() {
        // A line cut short by the kill is not a recorded attempt.
        let Ok(a) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        all.insert((
            a["key"]["cell"].as_str().unwrap().to_string(),
            a["key"]["phase"].as_str().unwrap().to_string(),
            a["key"]["index"].as_i64().unwrap(),
            a["attempt"].as_i64().unwrap(),
        ));
    }
    all
}

/// The attempts in the store itself (none before a runner has made its tables).
fn in_store(d: &Dir) -> std::collections::BTreeSet<(String, String, i64, i64)> {
    if !d.store().exists() {
        return Default::default();
    }
    let db = d.db();
    let Ok(mut stmt) = db.prepare("SELECT cell_key, phase, idx, attempt FROM trial") else {
        return Default::default();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn kill_9_mid_run_then_resume_ends_with_exactly_the_planned_trials() {
    let d = Dir::new();
    let f = resume_experiment(&d);
    let mut child = spawn_run(&d, &f);
    wait_for_trials(&d, 6);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let done_before = recorded(&d).len() as i64;
    assert!(
        (6..20).contains(&done_before),
        "killed mid-run: {done_before}"
    );

    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "resuming: {done_before} of 20 trials already done"
        )),
        "{}",
        text(&out)
    );
    assert_exactly_the_plan(&d);
    assert_eq!(count(&d.db(), "SELECT count(*) FROM session"), 2);

    // Running again finds nothing to do and adds nothing.
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_exactly_the_plan(&d);
}

#[test]
fn kill_9_again_and_again_during_short_trials_loses_no_attempt() {
    // Trials of a millisecond: the store gets them in batches, so at most kills some are
    // only in the journal. Every kill must keep every attempt recorded before it.
    let d = Dir::new();
    let f = d.write(
        "short.toml",
        "[experiment]\nname = \"short\"\ntrials = 150\nwarmup = 0\norder = \"shuffled\"\n\
         [telemetry]\ngpu = false\n[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n\
         [[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
    );
    let mut before = recorded(&d);
    let mut only_in_journal = 0;
    for k in 0..8u64 {
        let mut child = spawn_run(&d, &f);
        std::thread::sleep(Duration::from_millis(60 + 37 * k));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        let now = recorded(&d);
        assert!(now.is_superset(&before), "kill {k} lost attempts");
        only_in_journal = only_in_journal.max(now.len() - in_store(&d).len());
        before = now;
    }
    assert!(
        only_in_journal > 0,
        "no kill found an attempt only in the journal: the test did not test it"
    );
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let db = d.db();
    assert_eq!(count(&db, "SELECT count(*) FROM trial"), 300);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT cell_key, idx FROM trial)"
        ),
        300
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM trial WHERE final = 1 AND status = 'ok'"
        ),
        300
    );
    assert_eq!(
        db.query_row("SELECT status FROM run", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "complete"
    );
    let mut journal = d.store().into_os_string();
    journal.push(".journal");
    assert!(
        !std::path::Path::new(&journal).exists(),
        "a finished run leaves no journal"
    );
}

#[test]
fn a_store_that_cannot_grow_stops_the_run_and_loses_no_finished_trial() {
    // A full disk, as the runner meets it: a write past the file-size limit fails (EFBIG;
    // SIGXFSZ ignored, as a full disk sends no signal). The journal, the WAL or the store
    // hits it first; whichever does, what finished before is kept and the resume, with
    // room again, ends with exactly the plan.
    use std::os::unix::process::CommandExt;
    let d = Dir::new();
    let f = d.write(
        "full.toml",
        "[experiment]\nname = \"full\"\ntrials = 150\nwarmup = 0\n[telemetry]\ngpu = false\n\
         [[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n\
         [[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
    );
    let mut cmd = d.run_command(&f, "none");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200 * 1024,
                rlim_max: 200 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // SQLite reports a write past the limit as an I/O error, a full disk as "full".
    assert!(
        err.contains("results store") || err.contains("journal"),
        "the error names what could not be written: {err}"
    );
    let kept = recorded(&d);
    assert!(
        !kept.is_empty() && kept.len() < 300,
        "stopped part way: {}",
        kept.len()
    );

    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let after = recorded(&d);
    assert!(after.is_superset(&kept), "a finished trial was lost");
    let db = d.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE final = 1"),
        300
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT cell_key, idx FROM trial)"
        ),
        300
    );
}

#[test]
fn sigint_stops_the_trial_saves_the_rest_and_exits_130() {
    let d = Dir::new();
    let f = resume_experiment(&d);
    let child = spawn_run(&d, &f);
    wait_for_trials(&d, 3);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run the same command again to resume"));
    let status: String = d
        .db()
        .query_row("SELECT status FROM run", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "interrupted");
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_exactly_the_plan(&d);
}

#[test]
fn a_changed_experiment_is_refused_until_force_or_new_run() {
    let d = Dir::new();
    let body = "[experiment]\nname = \"chg\"\ntrials = 2\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n";
    let f = d.write("chg.toml", body);
    assert!(d.run_file(&f, &[]).status.success());
    // A comment changes the bytes, not the experiment: no complaint.
    d.write("chg.toml", &format!("# a comment\n{body}"));
    assert!(d.run_file(&f, &[]).status.success());
    d.write("chg.toml", &body.replace("trials = 2", "trials = 3"));
    let out = d.run_file(&f, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the experiment changed since run 1"), "{err}");
    assert!(
        err.contains("--force") && err.contains("--new-run"),
        "{err}"
    );
    let out = d.run_file(&f, &["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        count(&d.db(), "SELECT count(*) FROM trial"),
        3,
        "force keeps the 2 done and adds 1"
    );
    let out = d.run_file(&f, &["--new-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&d.db(), "SELECT count(*) FROM run"), 2);
    assert_eq!(
        count(&d.db(), "SELECT count(*) FROM trial WHERE run_id = 2"),
        3
    );
}

#[test]
fn compare_runs_an_ab_test_and_stores_it() {
    let d = Dir::new();
    let out = d.run(&[
        "compare",
        "true",
        "sleep 0.05",
        "-n",
        "3",
        "--warmup",
        "1",
        "--progress",
        "none",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a = true") && stderr.contains("b = sleep 0.05"),
        "{stderr}"
    );
    let store = d.path().join("rigor-results/compare.db");
    let out = d.run(&["report", store.to_str().unwrap(), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cmp = json["analysis"]["comparisons"].as_array().unwrap();
    let wall = cmp.iter().find(|c| c["metric"] == "wall_time").unwrap();
    assert!(
        wall["ratio"].as_f64().unwrap() > 5.0,
        "sleep 0.05 is far slower than true: {wall}"
    );
    assert!(
        json["experiment_file"]
            .as_str()
            .unwrap()
            .contains("cmd = \"sleep 0.05\"")
    );
    // Every compare is its own run.
    assert!(
        d.run(&["compare", "true", "true", "-n", "2", "--progress", "none"])
            .status
            .success()
    );
    let db = Connection::open(&store).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM run"), 2);
}

#[test]
fn plan_shows_cells_order_and_an_estimate_once_there_is_history() {
    let d = Dir::new();
    let f = resume_experiment(&d);
    let store = d.store();
    let out = d.run(&[
        "plan",
        f.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("2 variant(s) × 1 workload(s) → 4 cell(s)"),
        "{s}"
    );
    assert!(
        s.contains("20 trials: 16 measured (4 per cell) + 4 warm-up; order shuffled (seed 3)"),
        "{s}"
    );
    assert!(s.contains("estimated duration: unknown"), "{s}");
    assert!(!store.exists(), "plan must not create a store");
    assert!(d.run_file(&f, &[]).status.success());
    let out = d.run(&[
        "plan",
        f.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("estimated duration: ") && s.contains("from earlier trials"),
        "{s}"
    );
}

#[test]
fn env_describes_the_machine_and_the_run_records_it() {
    let d = Dir::new();
    let f = d.write("e.toml", "[experiment]\nname = \"e\"\ntrials = 1\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n");
    let out = d.run(&["env", f.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(env["kernel"].as_str().unwrap().starts_with("Linux"));
    assert_eq!(env["experiment_file_sha256"].as_str().unwrap().len(), 64);
    assert!(
        env["git"]["unavailable"].is_string(),
        "a temp dir has no git commit: {}",
        env["git"]
    );
    assert!(d.run_file(&f, &[]).status.success());
    let json = d.report_json();
    let recorded = &json["run"]["sessions"][0]["environment"];
    assert_eq!(
        recorded["experiment_file_sha256"],
        env["experiment_file_sha256"]
    );
    assert_eq!(recorded["cpu_model"], env["cpu_model"]);
}

#[test]
fn report_writes_all_formats_to_a_directory() {
    let d = Dir::new();
    let f = d.write("r.toml", "[experiment]\nname = \"r\"\ntrials = 2\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n");
    assert!(d.run_file(&f, &[]).status.success());
    let out_dir = d.path().join("rep");
    let out = d.run(&[
        "report",
        f.to_str().unwrap(),
        "--store",
        d.store().to_str().unwrap(),
        "--format",
        "md,csv,json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("# r — run 1 (complete)"), "{md}");
    assert!(md.contains("### wall_time [s] — lower is better"), "{md}");
    assert!(md.contains("```toml\n[experiment]"), "{md}");
    assert!(
        std::fs::read_to_string(out_dir.join("trials.csv"))
            .unwrap()
            .lines()
            .count()
            > 2
    );
    assert!(out_dir.join("report.json").is_file());
}

#[test]
fn stats_reanalyses_numbers_from_files_and_csv_columns() {
    let d = Dir::new();
    let a = d.write(
        "native.txt",
        "# seconds\n10.1\n10.3\n9.9\n10.0\n10.2\n10.1\n",
    );
    let b = d.write("docker.txt", "10.6\n10.8\n10.4\n10.7\n10.5\n10.9\n");
    let out = rigor()
        .args(["stats", "--time", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "rigor.stats/1");
    let c = &j["comparisons"][0];
    assert_eq!(
        (c["variant"].as_str(), c["baseline"].as_str()),
        (Some("docker"), Some("native"))
    );
    // scipy.stats.ttest_ind(docker, native, equal_var=False).pvalue
    let p = c["inference"]["p"].as_f64().unwrap();
    assert!((p - 0.00024504314712247806).abs() < 1e-12, "{p}");
    assert_eq!(c["inference"]["test"], "welch");
    assert!(
        c["verdict"]
            .as_str()
            .unwrap()
            .starts_with("docker is 5.4% slower"),
        "{c}"
    );

    // The text form, from a CSV column, with the baseline chosen by name.
    let csv_a = d.write("old.csv", "run,tok_s\n1,101\n2,99\n3,100\n4,102\n5,98\n");
    let csv_b = d.write("new.csv", "run,tok_s\n1,100\n2,101\n3,99\n4,100\n5,102\n");
    let out = rigor()
        .args([
            "stats",
            "--metric",
            "tok_s",
            "--better",
            "higher",
            "--baseline",
            "old",
        ])
        .arg(&csv_b)
        .arg(&csv_a)
        .output()
        .unwrap();
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains(
            "new vs old: no difference detected (p_adj = 0.66); equivalence within ±3.0% shown"
        ),
        "{s}"
    );

    // Mistakes name the file and line, or the columns there are.
    let out = rigor()
        .args(["stats", "--metric", "tok"])
        .arg(&csv_a)
        .arg(&csv_b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the columns are: run, tok_s"),
        "{}",
        text(&out)
    );
    let bad = d.write("bad.txt", "1.0\n2,5\n");
    let out = rigor().arg("stats").arg(&a).arg(&bad).output().unwrap();
    assert!(text(&out).contains("bad.txt:2"), "{}", text(&out));
}

/// CI machines have no NVIDIA driver; these tests are about that case and skip elsewhere.
fn has_nvidia_driver() -> bool {
    Path::new("/proc/driver/nvidia").exists()
}

#[test]
fn gpu_workloads_without_a_gpu_fail_each_trial_with_the_reason() {
    if has_nvidia_driver() {
        return;
    }
    let d = Dir::new();
    let f = d.write(
        "gpu.toml",
        r#"
[experiment]
name = "gpu"
trials = 2
[[workload]]
name = "matmul"
kind = "gemm"
m = 256
n = 256
k = 256
params.dtype = ["bf16", "fp32"]
[[workload]]
name = "h2d"
kind = "copy"
size = "64MiB"
"#,
    );
    let out = d.run_file(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let db = d.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE status = 'ok'"),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM trial WHERE reason LIKE 'exit status 1: rigor probe % no CUDA driver: libcuda.so.1 cannot be loaded%'"
        ),
        6,
        "every trial says why: {}",
        text(&out)
    );
    // The probe ran as this very binary, with the fields as arguments.
    let argv: String = db
        .query_row(
            "SELECT argv FROM trial WHERE cell_key LIKE '%dtype=fp32%' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let argv: Vec<String> = serde_json::from_str(&argv).unwrap();
    assert_eq!(argv[0], env!("CARGO_BIN_EXE_rigor"));
    assert_eq!(&argv[1..3], ["probe", "gemm"]);
    let dtype = argv.iter().position(|a| a == "--dtype").unwrap();
    assert_eq!(argv[dtype + 1], "fp32");
    let md = d.report_md();
    assert!(md.contains("no CUDA driver"), "{md}");
    // A run asked to sample GPUs says once why it cannot.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no GPU telemetry: NVML unavailable"),
        "{}",
        text(&out)
    );
}

#[test]
fn telemetry_is_recorded_per_trial_and_gpu_absence_is_a_reason_not_a_zero() {
    if has_nvidia_driver() {
        return;
    }
    let d = Dir::new();
    let f = d.write(
        "tele.toml",
        r#"
[experiment]
name = "tele"
trials = 2
[telemetry]
interval = "20ms"
gpu = true
[[workload]]
name = "busy"
kind = "command"
command = ["sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 0.25"]
"#,
    );
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let db = d.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE status = 'ok'"),
        2
    );
    // Host readings were measured: metrics, and their time series.
    for m in [
        "host.cpu_util_pct.mean",
        "host.mem_used_mib.peak",
        "host.net_rx_mb",
        "host.rss_tree_mib.peak",
    ] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT count(*) FROM metric WHERE name = '{m}'")
            ),
            2,
            "{m}"
        );
    }
    assert!(
        count(
            &db,
            "SELECT count(*) FROM series WHERE name = 'host.cpu_busy_ticks'"
        ) == 2
    );
    // No GPU reading is stored as a number; each is missing with NVML's reason.
    assert_eq!(
        count(&db, "SELECT count(*) FROM metric WHERE name LIKE 'gpu%'"),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM missing_metric WHERE name = 'gpu.energy_j' AND reason LIKE 'NVML unavailable%'"
        ),
        2
    );
    let json = d.report_json();
    let warnings = json["analysis"]["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["kind"] == "telemetry-missing"),
        "{warnings:?}"
    );
    let md = d.report_md();
    assert!(md.contains("### Telemetry"), "{md}");
    assert!(md.contains("- gpu.energy_j: NVML unavailable"), "{md}");
}

#[test]
fn a_gate_without_nvml_is_refused_before_any_trial() {
    if has_nvidia_driver() {
        return;
    }
    let d = Dir::new();
    let f = d.write(
        "gate.toml",
        r#"
[experiment]
name = "gate"
[gate]
gpu_temp_below_c = 50
[[workload]]
name = "w"
kind = "command"
command = "true"
"#,
    );
    let out = d.run_file(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[gate], which needs GPU readings, but NVML unavailable"),
        "{err}"
    );
    assert!(!d.store().exists() || count(&d.db(), "SELECT count(*) FROM trial") == 0);
}

#[test]
fn probe_and_telemetry_mistakes_name_the_line_and_field() {
    let d = Dir::new();
    let head = "[experiment]\nname = \"e\"\n";
    expect_config_error(
        &d,
        "nok.toml",
        &format!("{head}[[workload]]\nname = \"g\"\nkind = \"gemm\"\nm = 64\nn = 64\n"),
        "3:1",
        &["workload[0].k", "missing field `k`", "params.k"],
    );
    expect_config_error(
        &d,
        "typo.toml",
        &format!(
            "{head}[[workload]]\nname = \"g\"\nkind = \"gemm\"\nm = 64\nn = 64\nk = 64\ndtyp = \"bf16\"\n"
        ),
        "9:8",
        &["no field `dtyp`", "did you mean `dtype`?"],
    );
    expect_config_error(
        &d,
        "dtype.toml",
        &format!(
            "{head}[[workload]]\nname = \"g\"\nkind = \"gemm\"\nm = 64\nn = 64\nk = 64\nparams.dtype = [\"bf16\", \"int4\"]\n"
        ),
        "9:16",
        &[
            "workload[0].params.dtype",
            "`int4` is not one of fp32, tf32, fp16, bf16, fp8",
        ],
    );
    expect_config_error(
        &d,
        "size.toml",
        &format!("{head}[[workload]]\nname = \"c\"\nkind = \"copy\"\nsize = \"lots\"\n"),
        "6:8",
        &["workload[0].size", "is not a size"],
    );
    expect_config_error(
        &d,
        "interval.toml",
        &format!(
            "{head}[telemetry]\ninterval = \"1ms\"\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n"
        ),
        "4:12",
        &["telemetry.interval", "out of range"],
    );
    expect_config_error(
        &d,
        "reserved.toml",
        &format!(
            "{head}[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n[[workload.metric]]\nname = \"gpu.energy_j\"\nbetter = \"lower\"\n"
        ),
        "8:8",
        &["`gpu.energy_j` is measured by rigor itself"],
    );
}

#[test]
fn hypotheses_open_the_report_and_strict_fails_on_a_stub() {
    let d = Dir::new();
    // `stub` prints the same number every trial, as a broken baseline would.
    let f = d.write(
        "h.toml",
        r#"[experiment]
name = "hyp"
seed = 3
baseline = "fast"
trials = 6
order = "interleaved"

[[variant]]
name = "fast"
params = { s = "0.01" }
[[variant]]
name = "slow"
params = { s = "0.03" }

[[workload]]
name = "sleep"
kind = "command"
command = "sleep {s}; echo '{\"metric\": \"stub_ms\", \"value\": 5, \"unit\": \"ms\"}'"

[[hypothesis]]
metric = "wall_time"
variant = "slow"
claim = "slower"
margin = 0.5

[[hypothesis]]
metric = "wall_time"
variant = "slow"
claim = "equivalent"

[[hypothesis]]
metric = "no_such_metric"
variant = "slow"
claim = "faster"
"#,
    );
    let out = d.run_file(&f, &["--strict"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("--strict: "), "{all}");
    assert!(all.contains("identical-values"), "{all}");
    assert!(
        all.contains("SUPPORTED: slow is slower than fast on wall_time by more than 50%"),
        "{all}"
    );
    assert!(
        all.contains("REFUTED: slow is equivalent to fast on wall_time (±3%)"),
        "{all}"
    );
    assert!(
        all.contains("NOT TESTED: slow is faster than fast on no_such_metric"),
        "{all}"
    );
    // The report opens with the claims, before the validity warnings.
    let md = d.report_md();
    let (h, w) = (
        md.find("## Hypotheses").unwrap(),
        md.find("Validity").unwrap(),
    );
    assert!(h < w, "{md}");
    let j = d.report_json();
    assert_eq!(j["analysis"]["claims"][0]["verdict"], "supported", "{j}");
    assert_eq!(j["analysis"]["claims"][1]["verdict"], "refuted");
    let strict = d.run(&["report", d.store().to_str().unwrap(), "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    // A claim about a variant that does not exist is refused before anything runs.
    expect_config_error(
        &Dir::new(),
        "badhyp.toml",
        "[experiment]\nname = \"bh\"\n[[variant]]\nname = \"native\"\n[[variant]]\nname = \"docker\"\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n[[hypothesis]]\nmetric = \"wall_time\"\nvariant = \"dokcer\"\nclaim = \"equivalent\"\n",
        "13:11",
        &["field `hypothesis[0].variant`", "did you mean `docker`?"],
    );
}

#[test]
fn each_trial_runs_its_own_index_and_a_fixed_command_is_found_once() {
    // The runner builds a cell's invocation once when the trial index does not change it;
    // `{trial}` must still reach every trial.
    let d = Dir::new();
    let f = d.write(
        "t.toml",
        r#"[experiment]
name = "idx"
trials = 4
[[variant]]
name = "a"
[[workload]]
name = "seed"
kind = "command"
command = "echo trial-{trial}"
[[workload]]
name = "fixed"
kind = "command"
command = "echo same"
"#,
    );
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let db = d.db();
    let argv = |cell: &str| -> Vec<String> {
        let mut st = db
            .prepare("SELECT argv FROM trial WHERE cell_key = ?1 ORDER BY idx")
            .unwrap();
        st.query_map([cell], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|a| a.unwrap())
            .collect()
    };
    let seeds = argv("a/seed");
    assert_eq!(seeds.len(), 4);
    for (i, a) in seeds.iter().enumerate() {
        let a: Vec<String> = serde_json::from_str(a).unwrap();
        assert_eq!(a[1], format!("trial-{i}"), "{seeds:?}");
        assert!(a[0].ends_with("/echo"), "the program is resolved: {a:?}");
    }
    let fixed = argv("a/fixed");
    assert_eq!(fixed.len(), 4);
    assert!(fixed.iter().all(|a| *a == fixed[0]), "{fixed:?}");
}

#[test]
fn adaptive_stopping_runs_rounds_until_settled_and_says_why() {
    let d = Dir::new();
    // The deciding metric is the command's own, a function of the trial index, so every
    // look sees the same values on any machine: `a` and `same` 10.00, 10.01, …, `far`
    // twice that. Timed trials made this test depend on the machine's load.
    let f = d.write(
        "a.toml",
        r#"[experiment]
name = "adapt"
seed = 5
baseline = "a"
trials = { min = 3, max = 8, ci_width = 0.001 }

[analysis]
margin = 0.001

[[variant]]
name = "a"
params = { s = "10.0" }
[[variant]]
name = "far"
params = { s = "20.0" }
[[variant]]
name = "same"
params = { s = "10.0" }

[[workload]]
name = "score"
kind = "command"
command = """echo '{"metric": "score", "value": {s}{trial}}'"""
"#,
    );
    let out = d.run_file(&f, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let j = d.report_json();
    let cells = j["analysis"]["adaptive"]["cells"].as_array().unwrap();
    let cell = |key: &str| {
        cells
            .iter()
            .find(|c| c["cell"].as_str().unwrap().starts_with(key))
            .unwrap()
    };
    let n = |key: &str| cell(key)["finished"].as_u64().unwrap();
    // Twice the baseline is clear at the first look. `same` equals the baseline trial for
    // trial, but ±0.1% asked of values that spread wider with every round is out of reach:
    // more rounds, until futility, which is first looked for at 2·min = 6 trials.
    assert_eq!(n("far/"), 3, "{cells:?}");
    let same = n("same/");
    assert_eq!(same, 6, "{cells:?}");
    let why = cell("same/")["why"].as_str().unwrap();
    assert!(why.starts_with("stopped for futility"), "{cells:?}");
    assert_eq!(
        n("a/"),
        same,
        "the baseline runs as long as its open comparison"
    );
    let total = (3 + 2 * same) as i64;
    let db = d.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM trial WHERE final = 1"),
        total
    );
    // Each (cell, index) once: rounds continue the indices.
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT cell_key || '#' || idx) FROM trial"
        ),
        total
    );
    // Running again adds nothing: every cell is settled, futile or at max.
    let again = d.run_file(&f, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(count(&d.db(), "SELECT count(*) FROM trial"), total);
    let md = d.report_md();
    assert!(md.contains("## Adaptive stopping"), "{md}");
    assert!(
        md.contains("settled: comparisons clearly different"),
        "{md}"
    );
    let warnings = j["analysis"]["warnings"].to_string();
    assert!(warnings.contains("adaptive-unsettled"), "{warnings}");
    expect_config_error(
        &Dir::new(),
        "badadapt.toml",
        "[experiment]\nname = \"x\"\ntrials = { min = 9, max = 4, ci_width = 0.02 }\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
        "3:10",
        &["field `experiment.trials.max`", "2 ≤ min ≤ max"],
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

#[test]
fn seven_by_five_example_gives_heatmap_tables_and_verdicts() {
    let d = Dir::new();
    let out = d.run_file(&example("seven-by-five.toml"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("SUPPORTED: blake2b is faster than sha256 on hash_us"),
        "{}",
        text(&out)
    );
    let rep = d.path().join("rep");
    let r = d.run(&[
        "report",
        d.store().to_str().unwrap(),
        "--format",
        "md,tex",
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(rep.join("figures/heatmap.svg").exists());
    assert!(rep.join("figures/heatmap.png").exists());
    let tex = std::fs::read_to_string(rep.join("tables.tex")).unwrap();
    // One table per workload for its own metric, 7 rows each.
    assert_eq!(tex.matches("hash\\_us [us]").count(), 5, "{tex}");
    assert_eq!(
        tex.matches("\\begin{table}").count(),
        10,
        "hash_us and wall_time per workload"
    );
    // The tables and figure snippets compile as they are in a paper (pdflatex, booktabs).
    std::fs::write(
        rep.join("paper.tex"),
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\begin{document}\n\\input{tables}\n\\input{figures}\n\\end{document}\n",
    )
    .unwrap();
    let latex = Command::new(crate::common::require(
        "pdflatex",
        "texlive-latex-recommended",
    ))
    .args(["-interaction=nonstopmode", "-halt-on-error", "paper.tex"])
    .current_dir(&rep)
    .output()
    .unwrap();
    assert!(latex.status.success(), "{}", text(&latex));
    assert!(std::fs::metadata(rep.join("paper.pdf")).unwrap().len() > 50_000);
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("![Speedup per variant and workload](figures/heatmap.svg)"));
    assert_eq!(
        md.matches("** hash_us**").count() + md.matches("**hash_us**").count(),
        30,
        "a verdict for each of 6 variants × 5 workloads"
    );
}

#[test]
fn planted_broken_baseline_and_dead_monitor_fail_strict() {
    let d = Dir::new();
    let out = d.run_file(&example("planted-faults.toml"), &["--strict"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("--strict: "), "{all}");
    assert!(
        all.contains("implausible-values")
            && all.contains("cached/transfer[mode=cached] #1: copy_ms = 0"),
        "{all}"
    );
    assert!(
        all.contains("identical-values")
            && all.contains("dead-monitor/transfer[mode=dead] moved_mb = 0"),
        "{all}"
    );
}

#[test]
fn environment_mistakes_name_the_line_and_field() {
    let head = "[experiment]\nname = \"env\"\n";
    let wl = "[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n";
    expect_config_error(
        &Dir::new(),
        "preset.toml",
        &format!(
            "{head}[[variant]]\nname = \"a\"\ncontainer = {{ runtime = \"apptainer\", image = \"x.sif\", preset = \"shm-8g\" }}\n{wl}"
        ),
        "5:13",
        &[
            "field `variant[0].container.preset`",
            "no apptainer equivalent",
        ],
    );
    expect_config_error(
        &Dir::new(),
        "both.toml",
        &format!(
            "{head}[[variant]]\nname = \"a\"\ncontainer = {{ runtime = \"docker\", image = \"x\" }}\nchroot = \"/srv\"\n{wl}"
        ),
        "5:13",
        &["field `variant[0].container`", "not both"],
    );
    expect_config_error(
        &Dir::new(),
        "runtime.toml",
        &format!(
            "{head}[[variant]]\nname = \"a\"\ncontainer = {{ runtime = \"lxc\", image = \"x\" }}\n{wl}"
        ),
        "5:13",
        &["field `variant[0].container`", "unknown variant `lxc`"],
    );
}

#[test]
fn nothing_runs_until_the_whole_file_is_valid() {
    let d = Dir::new();
    let head = "[experiment]\nname = \"v\"\n";
    let cmd =
        |c: &str| format!("[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"{c}\"\n");
    expect_config_error(
        &d,
        "port.toml",
        &format!("{head}{}", cmd("echo {port}")),
        "6:17",
        &["`{port}` is not filled in", "llm-serve"],
    );
    expect_config_error(
        &d,
        "unclosed.toml",
        &format!("{head}{}params = {{ x = [1, 2] }}\n", cmd("echo {x")),
        "6:17",
        &["`{x` is never closed", "write `{x}`"],
    );
    expect_config_error(
        &d,
        "workdir.toml",
        &format!(
            "{head}[[variant]]\nname = \"a\"\nworkdir = \"no/such/dir\"\n{}",
            cmd("true")
        ),
        "5:11",
        &["`no/such/dir` is not a directory"],
    );
    let serve = "[[workload]]\nname = \"s\"\nkind = \"llm-serve\"\n";
    expect_config_error(
        &d,
        "noserver.toml",
        &format!("{head}{serve}"),
        "3:1",
        &["needs a server: `url` or `server_command`"],
    );
    expect_config_error(
        &d,
        "badurl.toml",
        &format!("{head}{serve}url = \"not a url\"\n"),
        "6:7",
        &["`not a url` is not a URL"],
    );
    expect_config_error(
        &d,
        "badslo.toml",
        &format!("{head}{serve}url = \"http://127.0.0.1:9\"\nslo = \"ttft_ms<<5\"\n"),
        "7:7",
        &["name<=value"],
    );
    expect_config_error(
        &d,
        "zerotimeout.toml",
        &format!("{head}timeout = \"0s\"\n{}", cmd("true")),
        "3:11",
        &["a timeout of 0"],
    );
    expect_config_error(
        &d,
        "hugetrials.toml",
        &format!("{head}trials = 99999999999999999999\n{}", cmd("true")),
        "3:10",
        &["larger than any whole number a TOML file can hold"],
    );
    // 10^9 cells: refused at once with the count, not planned until memory runs out.
    let axes: Vec<String> = "abcdefghi"
        .chars()
        .map(|c| format!("{c} = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"))
        .collect();
    let start = Instant::now();
    expect_config_error(
        &d,
        "cells.toml",
        &format!(
            "{head}{}params = {{ {} }}\n",
            cmd("echo {a}{b}{c}{d}{e}{f}{g}{h}{i}"),
            axes.join(", ")
        ),
        "7:",
        &["1,000,000,000 cells", "at most 100,000"],
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    let plan = d.run(&["plan", d.path().join("cells.toml").to_str().unwrap()]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
}

#[test]
fn reading_a_file_that_is_not_a_store_never_writes_to_it() {
    let d = Dir::new();
    let empty = d.write("empty.db", "");
    let out = d.run(&["report", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the file is empty"), "{}", text(&out));
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    // Another program's SQLite database is left as it was.
    let other = d.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let out = d.run(&["report", other.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no `run` table"), "{}", text(&out));
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(!d.path().join("other.db-wal").exists());
}

#[test]
fn completions_and_the_manual_come_from_the_parser() {
    let d = Dir::new();
    let out = d.run(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out));
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(script.contains("serve-bench") && script.contains("--output-len"));
    // The script is valid bash.
    let f = d.write("rigor.bash", &script);
    let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));
    for shell in ["zsh", "fish"] {
        assert!(d.run(&["completions", shell]).status.success(), "{shell}");
    }
    let man = d.run(&["man"]);
    assert!(man.status.success(), "{}", text(&man));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH rigor 1"),
        "{page}"
    );
    assert!(page.contains("serve\\-bench"), "{page}");
    let dir = d.path().join("man");
    let out = d.run(&["man", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    for page in ["rigor.1", "rigor-run.1", "rigor-serve-bench.1"] {
        assert!(dir.join(page).exists(), "{page}");
    }
    // The snake_case spelling of the experiment file still works as a flag.
    let help = d.run(&["serve-bench", "--output_len", "8", "--help"]);
    assert!(help.status.success(), "{}", text(&help));
    let bad = d.run(&["serve-bench", "http://127.0.0.1:9", "--output-len", "zero"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("not a whole number"), "{}", text(&bad));
}
