//! `rigor probe <kind> --field value …`: one trial of a built-in workload, as the runner
//! starts it: metric lines (JSON) on stdout, what it did on stderr, the failure reason last.

use super::exit;
use super::fields::{CopyFlags, GemmFlags, LlmFlags};
use anyhow::Result;
use rigor::define::fields::Probe;
use std::collections::BTreeMap;
use std::process::ExitCode;

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
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let (mut out, mut log) = (stdout.lock(), stderr.lock());
    match rigor::run::workload::run(probe, &fields, &mut out, &mut log) {
        Ok(()) => Ok(exit::code(exit::OK)),
        Err(e) => {
            // Last on stderr: the runner makes it the trial's failure reason.
            eprintln!("rigor probe {}: {e}", probe.name());
            Ok(exit::code(exit::FAILED))
        }
    }
}
