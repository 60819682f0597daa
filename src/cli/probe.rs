//! `rigor probe <kind> --field value …`: one trial of a built-in workload, as the runner
//! starts it: metric lines (JSON) on stdout, what it did on stderr, the failure reason last.

use super::exit;
use super::fields::{CopyFlags, GemmFlags, LlmFlags};
use anyhow::Result;
use rigor::define::fields::Probe;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(clap::Subcommand)]
enum Kind {
    /// cuBLAS matrix products.
    Gemm(GemmFlags),
    /// Host↔device and device↔device copies.
    Copy(CopyFlags),
    /// An OpenAI-compatible load.
    #[command(name = "llm-serve")]
    LlmServe(LlmFlags),
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (probe, fields): (Probe, BTreeMap<&'static str, String>) = match a.kind {
        Kind::Gemm(f) => (Probe::Gemm, f.0),
        Kind::Copy(f) => (Probe::Copy, f.0),
        Kind::LlmServe(f) => (Probe::LlmServe, f.0),
    };
    // Not locked for the whole trial: the load's window markers are printed from its
    // worker threads, each flushed at once (the runner stamps them as they arrive).
    let (mut out, mut log) = (std::io::stdout(), std::io::stderr());
    let mark: rigor::run::window::Mark = Arc::new(|begin| {
        let mut so = std::io::stdout().lock();
        let event = if begin { "begin" } else { "end" };
        let _ = writeln!(so, "{{\"event\": \"{event}\"}}");
        let _ = so.flush();
    });
    match rigor::run::workload::run(probe, &fields, &mut out, &mut log, Some(mark)) {
        Ok(()) => Ok(exit::code(exit::OK)),
        Err(e) => {
            // Last on stderr: the runner makes it the trial's failure reason.
            eprintln!("rigor probe {}: {e}", probe.name());
            Ok(exit::code(exit::FAILED))
        }
    }
}
