//! Variants as environments, for real: trials in a chroot built from busybox-static, and in
//! a podman container imported from the same root filesystem (no registry is needed). Both
//! need root; `.ci/run` installs busybox-static, podman and runc.
//!
//! Podman on these machines: Debian's default OCI runtime, crun, refuses the hybrid cgroup
//! layout ("cgroups in hybrid mode not supported"), and both crun and runc fail to raise
//! RLIMIT_NOFILE/RLIMIT_NPROC to podman's defaults ("setrlimit: Operation not permitted").
//! What works: `podman --runtime runc run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024`,
//! which is what the experiment below asks for through `runtime_args` and `extra_args`.

mod common;
use common::text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rigor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A root filesystem: busybox-static and a marker file that exists only inside it.
fn rootfs(dir: &Path) -> PathBuf {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox is needed for this test: apt-get install busybox-static (.ci/run does)");
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for tool in ["sh", "cat", "echo", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    std::fs::create_dir_all(root.join("work")).unwrap();
    std::fs::write(
        root.join("marker.json"),
        "{\"metric\": \"inside\", \"value\": 1, \"unit\": \"flag\"}\n",
    )
    .unwrap();
    root
}

fn metric_values(db: &Path, name: &str) -> Vec<f64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT value FROM metric WHERE name = ?1 ORDER BY trial_id")
        .unwrap();
    s.query_map([name], |r| r.get(0))
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

#[test]
fn trials_run_inside_a_chroot_with_the_wrapper_outside() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rootfs(d);
    std::fs::write(
        d.join("e.toml"),
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
    )
    .unwrap();
    let out = rigor(
        d,
        &["run", "e.toml", "--store", "r.db", "--progress", "none"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let db = d.join("r.db");
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
    let bad = rigor(d, &["run", "bad.toml", "--store", "b.db"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("variant `j`: the chroot"),
        "{}",
        text(&bad)
    );
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("podman is needed for this test: apt-get install podman runc (.ci/run does)")
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
container = {{ runtime = "podman", image = "{image}", runtime_args = ["--runtime", "runc"], extra_args = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network=none"] }}
[[workload]]
name = "w"
kind = "command"
command = "/bin/sh -c 'test -f /marker.json && echo \"{{\\\"metric\\\": \\\"inside\\\", \\\"value\\\": 1}}\" || echo \"{{\\\"metric\\\": \\\"inside\\\", \\\"value\\\": 0}}\"; test \"$GREETING\" = hello && echo \"{{\\\"metric\\\": \\\"env_seen\\\", \\\"value\\\": 1}}\"; true'"
"#
        ),
    )
    .unwrap();
    let out = rigor(
        d,
        &["run", "e.toml", "--store", "r.db", "--progress", "none"],
    );
    let _ = podman(&["rmi", "-f", &image]);
    assert!(out.status.success(), "{}", text(&out));
    let db = d.join("r.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let inside = |variant: &str| -> Vec<f64> {
        let mut s = c
            .prepare("SELECT m.value FROM metric m JOIN trial t ON t.id = m.trial_id WHERE m.name = 'inside' AND t.cell_key LIKE ?1")
            .unwrap();
        s.query_map([format!("{variant}/%")], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
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
    let missing = rigor(d, &["run", "missing.toml", "--store", "m.db"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let t = text(&missing);
    assert!(
        t.contains("variant `ghost`: the image `localhost/not-here:0` is not available"),
        "{t}"
    );
    assert!(!d.join("m.db").exists() || argvs(&d.join("m.db")).is_empty());
}
