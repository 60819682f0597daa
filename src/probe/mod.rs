//! Built-in GPU workloads, run by `rigor probe <kind>` in a trial's own process: `gemm`
//! (cuBLAS matrix products) and `copy` (host↔device and device↔device bandwidth). They print
//! JSON metric lines like any command workload. CUDA is loaded at run time, so the same
//! binary runs (and fails these trials with the reason) on machines without a GPU.

mod spec;

pub use spec::{COPY_DIRECTIONS, COPY_MEMORY, Field, GEMM_DTYPES, Probe, parse_args, parse_size};
mod copy;
mod cuda;
mod gemm;

use std::io::Write;

fn print_llm(out: &mut impl Write, o: &crate::llm::Options, r: &crate::llm::Outcome) {
    let s = &r.summary;
    let (metrics, missing) = crate::llm::trial_metrics(s);
    for (name, v, unit, better) in metrics {
        metric_line(out, &name, v, unit, better);
    }
    for (name, why) in missing {
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({"metric": name, "missing": why})
        );
    }
    for (name, delta) in &r.server_counters {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.:".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({"metric": format!("server.{}", clean.trim_end_matches('_')), "value": delta})
        );
    }
    if o.records {
        for rec in &r.records {
            let _ = writeln!(out, "{}", serde_json::json!({"request": rec}));
        }
    }
    eprintln!(
        "rigor probe llm-serve: {} requests ({} ok, {} failed) in {:.2} s: {:.2} req/s{}",
        s.requests,
        s.ok,
        s.failed,
        s.duration_s,
        s.req_s,
        s.output_tok_s
            .map(|t| format!(", {t:.1} output tok/s"))
            .unwrap_or_default()
    );
    if let Some(d) = &s.server {
        eprintln!(
            "rigor probe llm-serve: server {} (by {})",
            d.server.name(),
            d.by
        );
    }
    if let Some(why) = &s.exact_length {
        eprintln!("rigor probe llm-serve: output lengths: {why}");
    }
    if let Some(c) = &s.connections {
        eprintln!(
            "rigor probe llm-serve: connections: {} opened, {} reused; keep-alive: {}",
            c.opened, c.reused, c.keep_alive
        );
    }
    if s.retries > 0 || s.cancelled > 0 || !s.notes.is_empty() {
        eprintln!(
            "rigor probe llm-serve: {} sent again (never reached the server), {} cancelled at the end of the duration; notes: {:?}",
            s.retries, s.cancelled, s.notes
        );
    }
    for (kind, n, example) in r.failures() {
        eprintln!("rigor probe llm-serve: {n} failed with {kind}: {example}");
    }
    if let Some(log) = &r.server_log {
        eprintln!("--- server log (last lines) ---\n{log}");
    }
}

fn metric_line(out: &mut impl Write, name: &str, value: f64, unit: &str, better: &str) {
    let _ = writeln!(
        out,
        "{}",
        serde_json::json!({"metric": name, "value": value, "unit": unit, "better": better})
    );
}

/// `rigor probe <kind> --field value ...`: runs one trial's worth of the probe, prints its
/// metrics as JSON lines on stdout and what it did on stderr. Returns the exit status.
pub fn main(kind: &str, args: &[String]) -> i32 {
    let Some(probe) = Probe::parse(kind) else {
        eprintln!("rigor probe: unknown probe `{kind}`; the probes are gemm, copy and llm-serve");
        return 2;
    };
    let fields = match parse_args(probe, args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rigor probe {kind}: {e}");
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match probe {
        Probe::LlmServe => crate::llm::Options::from_fields(&fields).and_then(|o| {
            let outcome = crate::llm::run(&o)?;
            print_llm(&mut out, &o, &outcome);
            // The reason goes last on stderr: it becomes the failed trial's reason.
            match outcome.failure(o.max_error_rate, false) {
                Some(why) => Err(why),
                None => Ok(()),
            }
        }),
        Probe::Gemm => gemm::GemmArgs::from_fields(&fields).and_then(|a| {
            let o = gemm::run(&a)?;
            eprintln!("rigor probe gemm: {} {}×{}×{} batch {} {} on {}", fields["dtype"], a.m, a.n, a.k, a.batch,
                if a.dtype == gemm::Dtype::Fp8 { "(e4m3 in, bf16 out, TN)" } else { "(NN)" }, o.device);
            if let Some((err, tol)) = o.check {
                eprintln!("rigor probe gemm: check product matches float64 within {err:.2e} of Σ|a·b| (tolerance {tol:.0e})");
            }
            for t in &o.times_ms {
                metric_line(&mut out, "gemm.time_ms", *t, "ms", "lower");
            }
            let total_s = o.times_ms.iter().sum::<f64>() / 1e3;
            let tflops = a.flops_per_iteration() * o.times_ms.len() as f64 / total_s / 1e12;
            metric_line(&mut out, "gemm.tflops", tflops, "TFLOP/s", "higher");
            Ok(())
        }),
        Probe::Copy => copy::CopyArgs::from_fields(&fields).and_then(|a| {
            let o = copy::run(&a)?;
            eprintln!(
                "rigor probe copy: {} {} bytes in chunks of {} ({} host memory) on {}",
                fields["direction"], a.size, a.chunk, fields["memory"], o.device
            );
            for t in &o.times_ms {
                metric_line(&mut out, "copy.time_ms", *t, "ms", "lower");
            }
            let mean_s = o.times_ms.iter().sum::<f64>() / o.times_ms.len() as f64 / 1e3;
            let gbs = a.size as f64 / mean_s / 1e9;
            metric_line(&mut out, "copy.gbs", gbs, "GB/s", "higher");
            match &o.link {
                Ok(l) => {
                    eprintln!(
                        "rigor probe copy: link PCIe gen {} x{}: {:.2} GB/s per direction (raw); this copy reached {:.1}%",
                        l.generation, l.width, l.limit_gbs, 100.0 * gbs / l.limit_gbs
                    );
                    metric_line(&mut out, "copy.link_pct", 100.0 * gbs / l.limit_gbs, "%", "higher");
                }
                Err(why) => {
                    eprintln!("rigor probe copy: no link limit: {why}");
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({"metric": "copy.link_pct", "missing": why})
                    );
                }
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rigor probe {kind}: {e}");
            1
        }
    }
}
