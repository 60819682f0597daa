//! The built-in workloads, run by `rigor probe <kind>` in a trial's own process: `gemm`
//! (cuBLAS matrix products), `copy` (host↔device and device↔device bandwidth) and
//! `llm-serve` (an OpenAI-compatible load, [`llm`]). They write JSON metric lines like any
//! command workload. CUDA is loaded at run time, so the same binary runs (and fails these
//! trials with the reason) on machines without a GPU.

pub use crate::define::fields::{Probe, parse_args};

crate::reason_error!(
    /// Why a GPU probe could not measure (no driver, no device, a failed CUDA call, a
    /// check that did not match).
    ProbeError
);

/// Why a trial of a built-in workload failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Llm(#[from] llm::LlmError),
}
mod copy;
mod cuda;
mod gemm;
pub mod llm;

use std::io::Write;

fn print_llm(out: &mut dyn Write, log: &mut dyn Write, o: &llm::Options, r: &llm::Outcome) {
    let s = &r.summary;
    let (metrics, missing) = llm::trial_metrics(s);
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
    // The requests' fates, for `rigor capacity FILE` (no `metric`: not a trial metric).
    let _ = writeln!(
        out,
        "{}",
        serde_json::json!({"llm_counts": {"requests": s.requests, "ok": s.ok, "failed": s.failed, "cancelled": s.cancelled, "server_died": r.server_died}})
    );
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
    let _ = writeln!(log, "rigor probe llm-serve: {}", s.headline());
    if let Some(d) = &s.server {
        let _ = writeln!(
            log,
            "rigor probe llm-serve: server {} (by {})",
            d.server.name(),
            d.by
        );
    }
    if let Some(why) = &s.exact_length {
        let _ = writeln!(log, "rigor probe llm-serve: output lengths: {why}");
    }
    if let Some(c) = &s.connections {
        let _ = writeln!(
            log,
            "rigor probe llm-serve: connections: {} opened, {} reused; keep-alive: {}",
            c.opened, c.reused, c.keep_alive
        );
    }
    if s.retries > 0 || s.cancelled > 0 || !s.notes.is_empty() {
        let _ = writeln!(
            log,
            "rigor probe llm-serve: {} sent again (never reached the server), {} cancelled at the end of the duration; notes: {:?}",
            s.retries, s.cancelled, s.notes
        );
    }
    for (kind, n, example) in r.failures() {
        let _ = writeln!(
            log,
            "rigor probe llm-serve: {n} failed with {kind}: {example}"
        );
    }
    if let Some(tail) = &r.server_log {
        let _ = writeln!(log, "--- server log (last lines) ---\n{tail}");
    }
}

fn metric_line(out: &mut dyn Write, name: &str, value: f64, unit: &str, better: &str) {
    let _ = writeln!(
        out,
        "{}",
        serde_json::json!({"metric": name, "value": value, "unit": unit, "better": better})
    );
}

/// One trial's worth of `probe` with its parsed `fields`: metric lines (JSON) to `out`,
/// what it did to `log`, its window's begin and end to `mark`. An error is the trial's
/// failure reason.
pub fn run(
    probe: Probe,
    fields: &std::collections::BTreeMap<&'static str, String>,
    out: &mut dyn Write,
    log: &mut dyn Write,
    mark: Option<crate::run::window::Mark>,
) -> Result<(), WorkloadError> {
    let fields = fields.clone();

    match probe {
        Probe::LlmServe => llm::Options::from_fields(&fields).and_then(|o| {
            let outcome = llm::run(&o, mark)?;
            print_llm(out, log, &o, &outcome);
            // The reason goes last on stderr: it becomes the failed trial's reason.
            match outcome.failure(o.max_error_rate, false) {
                Some(why) => Err(llm::LlmError(why)),
                None => Ok(()),
            }
        })
        .map_err(WorkloadError::from),
        Probe::Gemm => gemm::GemmArgs::from_fields(&fields).and_then(|a| {
            let o = gemm::run(&a)?;
            let _ = writeln!(log, "rigor probe gemm: {} {}×{}×{} batch {} {} on {}", fields["dtype"], a.m, a.n, a.k, a.batch,
                if a.dtype == gemm::Dtype::Fp8 { "(e4m3 in, bf16 out, TN)" } else { "(NN)" }, o.device);
            if let Some((err, tol)) = o.check {
                let _ = writeln!(log, "rigor probe gemm: check product matches float64 within {err:.2e} of Σ|a·b| (tolerance {tol:.0e})");
            }
            for t in &o.times_ms {
                metric_line(out, "gemm.time_ms", *t, "ms", "lower");
            }
            let total_s = o.times_ms.iter().sum::<f64>() / 1e3;
            let tflops = a.flops_per_iteration() * o.times_ms.len() as f64 / total_s / 1e12;
            metric_line(out, "gemm.tflops", tflops, "TFLOP/s", "higher");
            Ok(())
        })
        .map_err(WorkloadError::from),
        Probe::Copy => copy::CopyArgs::from_fields(&fields).and_then(|a| {
            let o = copy::run(&a)?;
            let _ = writeln!(log,
                "rigor probe copy: {} {} bytes in chunks of {} ({} host memory) on {}",
                fields["direction"], a.size, a.chunk, fields["memory"], o.device
            );
            for t in &o.times_ms {
                metric_line(out, "copy.time_ms", *t, "ms", "lower");
            }
            let mean_s = o.times_ms.iter().sum::<f64>() / o.times_ms.len() as f64 / 1e3;
            let gbs = a.size as f64 / mean_s / 1e9;
            metric_line(out, "copy.gbs", gbs, "GB/s", "higher");
            match &o.link {
                Ok(l) => {
                    let _ = writeln!(log,
                        "rigor probe copy: link PCIe gen {} x{}: {:.2} GB/s per direction (raw); this copy reached {:.1}%",
                        l.generation, l.width, l.limit_gbs, 100.0 * gbs / l.limit_gbs
                    );
                    metric_line(out, "copy.link_pct", 100.0 * gbs / l.limit_gbs, "%", "higher");
                }
                Err(why) => {
                    let _ = writeln!(log, "rigor probe copy: no link limit: {why}");
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({"metric": "copy.link_pct", "missing": why.0})
                    );
                }
            }
            Ok(())
        })
        .map_err(WorkloadError::from),
    }
}
