//! How late rigor stamps a window marker (issue 18): a Python program prints 400 markers,
//! each carrying its own `CLOCK_MONOTONIC` reading taken just before the write; rigor's
//! runner (`exec::execute`, the trial's stdout through its copier thread to a log file)
//! stamps each when it reads it. The reference, in the same invocation: the same program
//! read by a bare `BufRead` loop on its pipe, the least any reader of a pipe can add.
//!
//! cargo bench --bench markers

// A benchmark's output is its report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rigor::run::exec::{ExecSpec, execute};
use rigor::run::window::monotonic_ns;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;

const PROGRAM: &str = "import json, time\n\
for i in range(400):\n    \
    print(json.dumps({'event': 'begin' if i % 2 == 0 else 'end', 't_ns': time.monotonic_ns()}), flush=True)\n    \
    time.sleep(0.002)\n";

fn t_ns(line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("a marker line");
    v["t_ns"].as_u64().expect("t_ns")
}

fn summary(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(f64::total_cmp);
    let q = |p: f64| us[((us.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.99), us[us.len() - 1])
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = std::fs::File::create(dir.path().join("out")).expect("a log");
    let err = std::fs::File::create(dir.path().join("err")).expect("a log");
    let argv: Vec<String> = ["python3", "-c", PROGRAM].map(String::from).to_vec();
    let stop = AtomicBool::new(false);
    let o = execute(&mut ExecSpec {
        argv: &argv,
        env: &[],
        workdir: dir.path(),
        stdout: &out,
        stderr: &err,
        timeout: None,
        interrupt: &stop,
        on_start: &mut |_| {},
    })
    .expect("python3 runs");
    let rigor: Vec<f64> = o
        .markers
        .iter()
        .map(|m| (m.mono_ns.saturating_sub(t_ns(&m.line))) as f64 / 1e3)
        .collect();

    let mut child = Command::new("python3")
        .args(["-c", PROGRAM])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut bare = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("a pipe")).lines() {
        let line = line.expect("a line");
        let now = monotonic_ns();
        bare.push((now.saturating_sub(t_ns(&line))) as f64 / 1e3);
    }
    let _ = child.wait();

    println!("marker latency, from the program's clock reading to the reader's stamp (µs):");
    println!("| reader | markers | median | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    let (rm, rp, rx) = summary(rigor.clone());
    let (bm, bp, bx) = summary(bare.clone());
    println!(
        "| rigor (copier thread → log) | {} | {rm:.1} | {rp:.1} | {rx:.1} |",
        rigor.len()
    );
    println!(
        "| bare BufRead on the pipe | {} | {bm:.1} | {bp:.1} | {bx:.1} |",
        bare.len()
    );
    println!(
        "ratio rigor ÷ bare: median {:.2}, p99 {:.2}",
        rm / bm,
        rp / bp
    );
}
