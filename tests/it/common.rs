//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// A finished command's stdout and stderr, labelled, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The rigor binary under test, run in `dir` with `args`.
pub fn rigor_in(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ok` every 100 ms until it holds; fails the test after `limit`, naming `what`.
pub fn wait_for(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "no {what} after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The path of a system tool a test needs. Absent, the test fails (never skips) saying
/// which Debian package has it and the one command that installs all the tests need.
/// CPU lanes need two CPUs (CI machines and the README's have them): a machine with one
/// fails here with the reason, not somewhere obscure.
pub fn require_two_cpus() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        n >= 2,
        "CPU lanes need 2 CPUs; this machine lets rigor use {n}"
    );
}

pub fn require(tool: &str, package: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .chain(["/sbin", "/usr/sbin"].map(std::path::PathBuf::from))
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{tool}` is not installed, and this test needs it: it is in the Debian package `{package}`.\n\
             Install everything the tests need with `scripts/test` (it says what it installs and asks before using sudo),\n\
             or just this one: sudo apt-get install {package}"
        )
    })
}

/// Tests that load the machine (a server under load) or whose assertions depend on timing
/// (a verdict, a deadline) hold this, so that they never run beside each other: on a
/// 2-core machine that would turn their assertions into a test of the scheduler.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
