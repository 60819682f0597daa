//! Variants as environments, for real: trials in a chroot built from busybox-static, and in
//! a podman container imported from the same root filesystem (no registry is needed). Both
//! need root; `.ci/run` installs busybox-static, podman and runc.
//!
//! Podman on these machines: Debian's default OCI runtime, crun, refuses the hybrid cgroup
//! layout ("cgroups in hybrid mode not supported"), and both crun and runc fail to raise
//! RLIMIT_NOFILE/RLIMIT_NPROC to podman's defaults ("setrlimit: Operation not permitted").
//! What works: `podman --runtime runc run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024`,
//! which is what the experiment below asks for through `runtime_args` and `extra_args`.

use crate::common::{rigor_in, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A root filesystem: busybox-static and a marker file that exists only inside it.
fn rootfs(dir: &Path) -> PathBuf {
    let busybox = crate::common::require("busybox", "busybox-static");
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for tool in ["sh", "cat", "echo", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    std::fs::create_dir_all(root.join("work")).unwrap();
    // Where `unshare pid` mounts the root's own /proc.
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(
        root.join("marker.json"),
        "{\"metric\": \"inside\", \"value\": 1, \"unit\": \"flag\"}\n",
    )
    .unwrap();
    root
}

fn metric_values(db: &Path, name: &str) -> Vec<f64> {
    metric_values_of(db, name, "")
}

/// A metric's values in the trials of one variant (`""`: every variant), in trial order.
fn metric_values_of(db: &Path, name: &str, variant: &str) -> Vec<f64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT m.value FROM metric m JOIN trial t ON t.id = m.trial_id \
             WHERE m.name = ?1 AND t.cell_key LIKE ?2 ORDER BY m.trial_id",
        )
        .unwrap();
    let cells = if variant.is_empty() {
        "%".to_string()
    } else {
        format!("{variant}/%")
    };
    s.query_map([name, &cells], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn argvs(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c.prepare("SELECT argv FROM trial ORDER BY id").unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Writes `NAME.toml`, runs it into `NAME.db` and returns the store; the run must succeed.
fn run_experiment(d: &Path, name: &str, toml: &str) -> PathBuf {
    std::fs::write(d.join(format!("{name}.toml")), toml).unwrap();
    let out = rigor_in(
        d,
        &[
            "run",
            &format!("{name}.toml"),
            "--store",
            &format!("{name}.db"),
            "--progress",
            "none",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    d.join(format!("{name}.db"))
}

#[test]
fn trials_run_inside_a_chroot_with_the_wrapper_outside() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rootfs(d);
    let db = run_experiment(
        d,
        "e",
        r#"[experiment]
name = "chroot"
trials = 2
[[variant]]
name = "jail"
chroot = "rootfs"
prefix = "taskset -c 0"
[[variant]]
name = "jail-work"
chroot = { root = "rootfs", workdir = "/work" }
[[workload]]
name = "w"
kind = "command"
command = "/bin/sh -c 'cat /marker.json; echo \"{\\\"metric\\\": \\\"in_work\\\", \\\"value\\\": $(test $PWD = /work && echo 1 || echo 0)}\"'"
"#,
    );
    // Only inside the root does /marker.json exist.
    assert_eq!(metric_values(&db, "inside"), [1.0; 4]);
    let mut in_work = metric_values(&db, "in_work");
    in_work.sort_by(f64::total_cmp);
    assert_eq!(
        in_work,
        [0.0, 0.0, 1.0, 1.0],
        "`/` in one root, `/work` in the other"
    );
    let argv = argvs(&db);
    let jail = argv
        .iter()
        .find(|a| a.contains("taskset"))
        .expect("the jail variant's trials");
    assert!(jail.find("taskset") < jail.find("chroot"), "{jail}");
    // The root is recorded as an absolute path.
    assert!(
        jail.contains(&format!(
            "\"{}\"",
            d.join("rootfs").canonicalize().unwrap().display()
        )),
        "{jail}"
    );
    // A missing root is refused before any trial.
    std::fs::write(
        d.join("bad.toml"),
        "[experiment]\nname = \"bad\"\n[[variant]]\nname = \"j\"\nchroot = \"nowhere\"\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
    )
    .unwrap();
    let bad = rigor_in(d, &["run", "bad.toml", "--store", "b.db"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("variant `j`: the chroot"),
        "{}",
        text(&bad)
    );
}

#[test]
fn unshared_trials_get_their_own_process_tree_and_network_natively_and_in_a_chroot() {
    // The trials read the loopback's state with iproute2's `ip`.
    crate::common::require("ip", "iproute2");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rootfs(d);
    // Each trial reports its PID, its network interfaces and whether loopback is up.
    let db = run_experiment(
        d,
        "native",
        r#"[experiment]
name = "unshare"
trials = 2
[[variant]]
name = "host"
[[variant]]
name = "isolated"
prefix = "taskset -c 0"
unshare = ["net", "pid"]
[[workload]]
name = "w"
kind = "command"
command = '''/bin/sh -c 'echo "{\"metric\": \"pid\", \"value\": $$}"; echo "{\"metric\": \"interfaces\", \"value\": $(( $(wc -l < /proc/net/dev) - 2 ))}"; echo "{\"metric\": \"lo_up\", \"value\": $(ip -o link show lo | grep -c LOWER_UP)}"''''
"#,
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let by_variant = |metric: &str, variant: &str| metric_values_of(&db, metric, variant);
    // In its own PID namespace the command is PID 1; in its own network namespace only
    // loopback exists, and rigor brought it up.
    assert_eq!(by_variant("pid", "isolated"), [1.0, 1.0]);
    assert_eq!(by_variant("interfaces", "isolated"), [1.0, 1.0]);
    assert_eq!(by_variant("lo_up", "isolated"), [1.0, 1.0]);
    assert!(by_variant("pid", "host").iter().all(|&p| p > 1.0));
    let argv = argvs(&db);
    let iso = argv.iter().find(|a| a.contains("unshare")).unwrap();
    assert!(iso.find("taskset") < iso.find("unshare"), "{iso}");
    let notes: String = c
        .query_row(
            "SELECT notes FROM trial WHERE cell_key LIKE 'isolated/%' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(notes.contains("unshare net,pid"), "{notes}");

    // In a chroot, the new /proc is the root's own.
    for tool in ["ls", "wc"] {
        std::os::unix::fs::symlink("busybox", d.join("rootfs/bin").join(tool)).unwrap();
    }
    let jail = run_experiment(
        d,
        "jail",
        r#"[experiment]
name = "unshare-chroot"
trials = 1
[[variant]]
name = "jail"
chroot = "rootfs"
unshare = ["pid"]
[[workload]]
name = "w"
kind = "command"
command = '''/bin/sh -c 'echo "{\"metric\": \"pid\", \"value\": $$}"; echo "{\"metric\": \"procs\", \"value\": $(ls -d /proc/[0-9]* | wc -l)}"''''
"#,
    );
    assert_eq!(metric_values(&jail, "pid"), [1.0]);
    // The shell, its command substitution, ls and wc: nothing of the host's (hundreds).
    assert!(metric_values(&jail, "procs")[0] <= 5.0);

    // Namespaces with a container, or one that does not exist: the file is refused at the field.
    for (bad, field) in [
        (
            "[[variant]]\nname = \"c\"\ncontainer = { runtime = \"podman\", image = \"x\" }\nunshare = [\"net\"]\n",
            "variant[0].unshare",
        ),
        (
            "[[variant]]\nname = \"c\"\nunshare = [\"network\"]\n",
            "variant[0].unshare",
        ),
    ] {
        let f = d.join("bad.toml");
        std::fs::write(
            &f,
            format!("[experiment]\nname = \"b\"\n{bad}[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n"),
        )
        .unwrap();
        let out = rigor_in(d, &["run", "bad.toml", "--store", "b.db"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(field), "{}", text(&out));
    }
}

fn podman(args: &[&str]) -> Output {
    Command::new(crate::common::require("podman", "podman"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn trials_run_in_fresh_podman_containers_and_a_missing_image_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = rootfs(d);
    let image = format!("localhost/rigor-test-busybox:{}", std::process::id());
    let tar = Command::new("tar")
        .args(["-C", root.to_str().unwrap(), "-cf", "rootfs.tar", "."])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(tar.status.success());
    let import = podman(&["import", d.join("rootfs.tar").to_str().unwrap(), &image]);
    assert!(import.status.success(), "{}", text(&import));
    let container = format!(
        r#"container = {{ runtime = "podman", image = "{image}", runtime_args = ["--runtime", "runc"], extra_args = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network=none"] }}"#
    );
    std::fs::write(
        d.join("e.toml"),
        format!(
            r#"[experiment]
name = "podman"
trials = 2
timeout = "60s"
[[variant]]
name = "native"
[[variant]]
name = "podman"
env = {{ GREETING = "hello" }}
{container}
[[workload]]
name = "w"
kind = "command"
command = "/bin/sh -c 'test -f /marker.json && echo \"{{\\\"metric\\\": \\\"inside\\\", \\\"value\\\": 1}}\" || echo \"{{\\\"metric\\\": \\\"inside\\\", \\\"value\\\": 0}}\"; test \"$GREETING\" = hello && echo \"{{\\\"metric\\\": \\\"env_seen\\\", \\\"value\\\": 1}}\"; true'"
"#
        ),
    )
    .unwrap();
    let run = |file: &str, store: &str| {
        rigor_in(d, &["run", file, "--store", store, "--progress", "none"])
    };
    let out = run("e.toml", "r.db");
    // Every attempt gets a container of its own, retries included: the runner reuses a
    // cell's command between trials only when it does not change.
    std::fs::write(
        d.join("retry.toml"),
        format!(
            r#"[experiment]
name = "retry"
trials = 2
retries = 1
timeout = "60s"
[[variant]]
name = "podman"
{container}
[[workload]]
name = "fails"
kind = "command"
command = "/bin/sh -c 'exit 3'"
"#
        ),
    )
    .unwrap();
    let retry = run("retry.toml", "retry.db");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(retry.status.code(), Some(1), "{}", text(&retry));
    let names: Vec<String> = argvs(&d.join("retry.db"))
        .iter()
        .map(|a| {
            let a: Vec<String> = serde_json::from_str(a).unwrap();
            let at = a.iter().position(|w| w == "--name").expect("--name");
            a[at + 1].clone()
        })
        .collect();
    assert_eq!(names.len(), 4, "2 trials of 2 attempts: {names:?}");
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), 4, "{names:?}");
    let left = podman(&["ps", "-a", "--format", "{{.Names}}"]);
    let left = String::from_utf8_lossy(&left.stdout);
    // Before the image goes: `rmi -f` would remove its containers too.
    let _ = podman(&["rmi", "-f", &image]);
    for n in &names {
        assert!(!left.lines().any(|l| l == n), "{n} left behind: {left}");
    }
    let db = d.join("r.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let inside = |variant: &str| metric_values_of(&db, "inside", variant);
    assert_eq!(inside("native"), [0.0, 0.0]);
    assert_eq!(inside("podman"), [1.0, 1.0]);
    assert_eq!(metric_values(&db, "env_seen"), [1.0, 1.0]);
    // The exact command line and the runtime's version and image id, with every trial.
    let notes: String = c
        .query_row(
            "SELECT notes FROM trial WHERE cell_key LIKE 'podman/%' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        notes.contains("podman version") && notes.contains(&image),
        "{notes}"
    );
    let argv = argvs(&db).join("\n");
    assert!(
        argv.contains("--runtime") && argv.contains("\"run\",\"--rm\",\"--name\""),
        "{argv}"
    );
    assert!(argv.contains("\"-e\",\"GREETING=hello\""), "{argv}");

    // A missing image: refused before any trial, naming the variant and the image.
    std::fs::write(
        d.join("missing.toml"),
        "[experiment]\nname = \"m\"\n[[variant]]\nname = \"ghost\"\ncontainer = { runtime = \"podman\", image = \"localhost/not-here:0\" }\n[[workload]]\nname = \"w\"\nkind = \"command\"\ncommand = \"true\"\n",
    )
    .unwrap();
    let missing = rigor_in(d, &["run", "missing.toml", "--store", "m.db"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let t = text(&missing);
    assert!(
        t.contains("variant `ghost`: the image `localhost/not-here:0` is not available"),
        "{t}"
    );
    assert!(!d.join("m.db").exists() || argvs(&d.join("m.db")).is_empty());
}
