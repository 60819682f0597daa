//! What the host telemetry's readings cost at a trial's end (issue 20): rigor's
//! `HostReader` reading /proc/stat, /proc/meminfo and /proc/net/dev right after a process
//! exits (as at a trial's end: the process has just evicted the kernel's paths from the
//! caches) and back to back. The references, in the same invocation: the machine's bare
//! system call (`getppid`), and hyperfine's whole per-run overhead where the machine's
//! hyperfine is known (`HYPERFINE_US`, from `bench/overhead.sh`). On a machine whose
//! system calls are slow these readings alone can exceed twice hyperfine's overhead.
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

fn us(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut host = HostReader::open();
    let mut cold: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    let mut warm = Vec::with_capacity(n);
    let mut syscall = Vec::with_capacity(n);
    for _ in 0..n {
        let status = Command::new("true").status().expect("run `true`");
        assert!(status.success());
        let t = Instant::now();
        let _ = host.cpu();
        cold[0].push(us(t));
        let t = Instant::now();
        let _ = host.meminfo();
        cold[1].push(us(t));
        let t = Instant::now();
        let _ = host.net();
        cold[2].push(us(t));
        let all: f64 = cold[..3].iter().filter_map(|v| v.last()).sum();
        cold[3].push(all);
        let t = Instant::now();
        let _ = (host.cpu(), host.meminfo(), host.net());
        warm.push(us(t));
        let t = Instant::now();
        // SAFETY: getppid has no arguments and cannot fail.
        let _ = unsafe { libc::getppid() };
        syscall.push(us(t));
    }
    let call = median(syscall);
    println!("host readings after a process exits, median of {n} (µs)");
    println!("| reading | µs | system calls' worth |");
    println!("|---|---:|---:|");
    for (name, v) in [
        "/proc/stat (cpu line)",
        "/proc/meminfo",
        "/proc/net/dev",
        "all three",
    ]
    .iter()
    .zip(cold)
    {
        let m = median(v);
        println!("| {name} | {m:.1} | {:.0} |", m / call);
    }
    let w = median(warm);
    println!("| all three, back to back | {w:.1} | {:.0} |", w / call);
    println!("| getppid (the reference) | {call:.2} | 1 |");
    if let Some(h) = std::env::var("HYPERFINE_US")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        println!(
            "hyperfine's whole overhead per run: {h:.1} µs; 2x that is {:.1} µs",
            2.0 * h
        );
    }
}
