//! `rigor submit --slurm` against a real single-node Slurm: munged, slurmctld and slurmd
//! (Debian's slurm-wlm and munge, as root) started by the test with a minimal slurm.conf,
//! state and spool in a temp dir and free ports, and stopped by PID when it ends. An
//! experiment goes out as a job array of shards; the merged store must hold every trial
//! exactly once; resubmitting runs only the shards that are missing.

use crate::common::{free_port, text, wait_for};

const MINUTE: Duration = Duration::from_secs(60);

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Slurm {
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn hostname() -> String {
    let out = Command::new("hostname").arg("-s").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Slurm {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn start() -> Slurm {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "munge"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(d.join("munge.key"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("munge.key"), std::fs::Permissions::from_mode(0o400))
            .unwrap();
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = d.join("munge/munge.sock");
        let host = hostname();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = format!(
            // Addresses given, so that nothing depends on the host name resolving (it does
            // not in a fresh debootstrap chroot, whose /etc/hosts lacks it).
            "ClusterName=rigortest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             SlurmctldPort={}\nSlurmdPort={}\nAuthType=auth/munge\nAuthInfo=socket={}\n\
             StateSaveLocation={}\nSlurmdSpoolDir={}\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
             ReturnToService=2\nMpiDefault=none\nJobAcctGatherType=jobacct_gather/none\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
             PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port(),
            socket.display(),
            d.join("state").display(),
            d.join("spool").display(),
            d = d.display(),
        );
        std::fs::write(d.join("slurm.conf"), conf).unwrap();
        let mut s = Slurm {
            dir,
            daemons: Vec::new(),
        };
        let d = s.dir.path().to_path_buf();
        let spawn = |cmd: &mut Command| {
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let munged = crate::common::require("munged", "munge");
        let slurmctld = crate::common::require("slurmctld", "slurmctld");
        let slurmd = crate::common::require("slurmd", "slurmd");
        s.daemons.push(spawn(Command::new(munged).args([
            "--foreground",
            "--force",
            &format!("--socket={}", socket.display()),
            &format!("--key-file={}", d.join("munge.key").display()),
            &format!("--pid-file={}", d.join("munged.pid").display()),
            &format!("--log-file={}", d.join("munged.log").display()),
            &format!("--seed-file={}", d.join("munge/seed").display()),
        ])));
        wait_for(MINUTE, "munged's socket", || socket.exists());
        let conf = s.conf();
        s.daemons
            .push(spawn(Command::new(slurmctld).args(["-D", "-f"]).arg(&conf)));
        s.daemons
            .push(spawn(Command::new(slurmd).args(["-D", "-f"]).arg(&conf)));
        let sinfo = crate::common::require("sinfo", "slurm-client");
        let idle = || {
            let o = Command::new(&sinfo)
                .env("SLURM_CONF", &conf)
                .args(["-h", "-o", "%T"])
                .output();
            o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("idle"))
        };
        let until = Instant::now() + MINUTE;
        while !idle() {
            if Instant::now() > until {
                // The daemons' own words, not just "it did not come up".
                let tail = |f: &str| {
                    let t = std::fs::read_to_string(d.join(f)).unwrap_or_default();
                    let lines: Vec<&str> = t.lines().collect();
                    lines[lines.len().saturating_sub(8)..].join("\n")
                };
                panic!(
                    "no idle Slurm node after {MINUTE:?}\n--- slurmctld.log\n{}\n--- slurmd.log\n{}",
                    tail("slurmctld.log"),
                    tail("slurmd.log")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        s
    }
}

fn rigor(slurm: &Slurm, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .env("SLURM_CONF", slurm.conf())
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `rigor submit e.toml` in 3 shards to `res/`.
fn submit(slurm: &Slurm, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "submit",
        "e.toml",
        "--slurm",
        "--shards",
        "3",
        "--results",
        "res",
    ];
    args.extend_from_slice(extra);
    rigor(slurm, dir, &args)
}

fn resubmit(slurm: &Slurm, dir: &Path) -> Output {
    submit(slurm, dir, &[])
}

fn wait_complete(slurm: &Slurm, dir: &Path, results: &str) -> String {
    let t0 = Instant::now();
    loop {
        let s = text(&rigor(slurm, dir, &["status", results]));
        if s.contains("every shard is complete") {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "shards not done after 120 s:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn an_experiment_runs_as_a_job_array_and_merges_to_every_trial_once() {
    let slurm = Slurm::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(
        w.join("e.toml"),
        "[experiment]\nname = \"sharded\"\nseed = 9\ntrials = 5\nwarmup = 1\n\
         [[variant]]\nname = \"a\"\nparams = { s = \"0.01\" }\n\
         [[variant]]\nname = \"b\"\nparams = { s = \"0.02\" }\n\
         [[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"sleep {s}; echo {n}\"\nparams = { n = [1, 2] }\n",
    )
    .unwrap();
    let sub = submit(&slurm, w, &["--max-parallel", "2"]);
    assert!(sub.status.success(), "{}", text(&sub));
    assert!(
        text(&sub).contains("3 of 3 shard(s) (0,1,2)"),
        "{}",
        text(&sub)
    );
    let status = wait_complete(&slurm, w, "res");
    assert!(status.contains("shard 2/3:"), "{status}");
    let merge = rigor(&slurm, w, &["merge", "res"]);
    assert!(merge.status.success(), "{}", text(&merge));
    // 4 cells × 5 measured trials, each exactly once; warm-ups once per cell.
    let db = rusqlite::Connection::open(w.join("res/merged.db")).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM trial WHERE phase = 'measure' AND final = 1 AND status = 'ok'"),
        20
    );
    assert_eq!(
        count("SELECT count(DISTINCT cell_key || '#' || idx) FROM trial WHERE phase = 'measure'"),
        20
    );
    assert_eq!(
        count("SELECT count(*) FROM trial WHERE phase = 'warmup'"),
        4
    );
    assert_eq!(
        count("SELECT count(*) FROM session"),
        3,
        "one session per shard"
    );
    // `report` on the directory merges first.
    let report = rigor(&slurm, w, &["report", "res", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    for c in j["analysis"]["cells"].as_array().unwrap() {
        assert_eq!(c["ok"], 5, "{c}");
    }
    // Nothing left to do; then a lost shard is the only one submitted again.
    let again = resubmit(&slurm, w);
    assert!(
        text(&again).contains("nothing to submit"),
        "{}",
        text(&again)
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(w.join(format!("res/shard-1-of-3.db{suffix}")));
    }
    // Merged without it, the plan's missing trials are counted, not left to be noticed:
    // shard 1 held 7 of the 20 ((index + cell) % 3 == 1).
    let partial = rigor(&slurm, w, &["merge", "res"]);
    assert!(
        text(&partial).contains("7 measured trial(s) of the plan are in no shard's store yet"),
        "{}",
        text(&partial)
    );
    let redo = resubmit(&slurm, w);
    assert!(
        text(&redo).contains("1 of 3 shard(s) (1)"),
        "{}",
        text(&redo)
    );
    wait_complete(&slurm, w, "res");
    let merge = rigor(&slurm, w, &["merge", "res"]);
    assert!(merge.status.success(), "{}", text(&merge));
    let db = rusqlite::Connection::open(w.join("res/merged.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM trial WHERE phase = 'measure' AND final = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 20);
    assert!(
        !text(&merge).contains("no shard's store"),
        "{}",
        text(&merge)
    );
    // Every shard finished, yet a planned trial is in none (as when two rigor versions cut
    // the slices differently): said, not merged as complete.
    let shard0 = rusqlite::Connection::open(w.join("res/shard-0-of-3.db")).unwrap();
    // Its metrics and series stay behind, orphaned: only the trial row matters here.
    shard0.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let gone = shard0
        .execute(
            "DELETE FROM trial WHERE id = (SELECT min(id) FROM trial WHERE phase = 'measure')",
            [],
        )
        .unwrap();
    assert_eq!(gone, 1);
    drop(shard0);
    let short = rigor(&slurm, w, &["merge", "res"]);
    assert!(
        text(&short).contains(
            "1 measured trial(s) of the plan are in no shard's store although every shard finished"
        ),
        "{}",
        text(&short)
    );
    shards_with_lanes_are_balanced_on_each_node(&slurm);
}

/// Shards run lanes within their node, and each shard runs each of its cells equally often
/// on each lane: a cell's trials (6: a block of 2 lanes for each of 3 shards) go to the
/// shards in whole blocks of lanes.
fn shards_with_lanes_are_balanced_on_each_node(slurm: &Slurm) {
    crate::common::require_two_cpus();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(
        w.join("e.toml"),
        "[experiment]\nname = \"laned\"\nseed = 3\ntrials = 6\n\
         lanes = { cpus = [\"0\", \"1\"], isolation = 0 }\n\
         [[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n\
         [[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"echo {n}\"\nparams = { n = [1, 2] }\n",
    )
    .unwrap();
    // One shard at a time: shards on one node at once would share its CPUs.
    let sub = submit(slurm, w, &["--max-parallel", "1"]);
    assert!(sub.status.success(), "{}", text(&sub));
    wait_complete(slurm, w, "res");
    let merge = rigor(slurm, w, &["merge", "res"]);
    assert!(merge.status.success(), "{}", text(&merge));
    let db = rusqlite::Connection::open(w.join("res/merged.db")).unwrap();
    // Per shard (its session) and cell: trials on lane 0 and on lane 1.
    let mut st = db
        .prepare(
            "SELECT session_id, cell_key, sum(lane = 0), sum(lane = 1) FROM trial \
             WHERE phase = 'measure' AND final = 1 GROUP BY session_id, cell_key",
        )
        .unwrap();
    let rows: Vec<(i64, String, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let total: i64 = rows.iter().map(|r| r.2 + r.3).sum();
    assert_eq!(total, 24, "4 cells x 6 trials: {rows:?}");
    assert!(
        rows.iter().all(|r| r.2 == r.3),
        "unbalanced on a node: {rows:?}"
    );
    let report = rigor(slurm, w, &["report", "res", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    // One node: its two lanes, not one per shard.
    assert_eq!(
        j["analysis"]["lanes"]["lanes"],
        serde_json::json!(["cpus 0", "cpus 1"]),
        "{}",
        j["analysis"]["lanes"]
    );
}
