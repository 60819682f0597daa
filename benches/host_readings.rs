//! What the host telemetry's readings cost at a trial's end (issue 20): rigor's
//! `HostReader` reading /proc/stat, /proc/meminfo and /proc/net/dev right after a process
//! exits (as at a trial's end: the process has just evicted the kernel's paths from the
//! caches) and back to back. The reference, in the same invocation: the machine's bare
//! system call (`getppid`). Compare the total with hyperfine's whole overhead per run on the
//! same machine (`bench/overhead.sh`).
//!
//! cargo bench --bench host_readings [-- N]

// A benchmark's output is its report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rigor::run::telemetry::host::HostReader;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds `f` took.
fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut host = HostReader::open();
    // After a process exits: each file, and the three together; then the three back to
    // back; then a bare system call.
    let (mut stat, mut meminfo, mut net, mut after_exit, mut warm, mut syscall) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let status = Command::new("true").status().expect("run `true`");
        assert!(status.success());
        let s = timed(|| drop(host.cpu()));
        let m = timed(|| drop(host.meminfo()));
        let d = timed(|| drop(host.net()));
        stat.push(s);
        meminfo.push(m);
        net.push(d);
        after_exit.push(s + m + d);
        warm.push(timed(|| drop((host.cpu(), host.meminfo(), host.net()))));
        // SAFETY: getppid has no arguments and cannot fail.
        syscall.push(timed(|| {
            std::hint::black_box(unsafe { libc::getppid() });
        }));
    }
    let call = median(syscall);
    println!("host readings after a process exits, median of {n} (µs)");
    println!("| reading | µs | system calls' worth |");
    println!("|---|---:|---:|");
    for (name, v) in [
        ("/proc/stat (cpu line)", stat),
        ("/proc/meminfo", meminfo),
        ("/proc/net/dev", net),
        ("all three", after_exit),
        ("all three, back to back", warm),
    ] {
        let m = median(v);
        println!("| {name} | {m:.1} | {:.0} |", m / call);
    }
    println!("| getppid (the reference) | {call:.2} | 1 |");
}
