//! `rigor merge DIR`: a submitted experiment's shards combined into one store.

use super::exit;
use anyhow::{Result, bail};
use rigor::run::slurm;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The results directory `rigor submit` wrote.
    results: PathBuf,
    /// The merged store (default: RESULTS/merged.db; rebuilt from the shards).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    merge_shards(&a.results, a.out, false)
}

pub fn merge_shards(results: &Path, out: Option<PathBuf>, to_stderr: bool) -> Result<ExitCode> {
    let record = slurm::read_record(results)?;
    let shards: Vec<PathBuf> = (0..record.shards)
        .map(|i| slurm::shard_store(results, i, record.shards))
        .filter(|p| p.exists())
        .collect();
    if shards.is_empty() {
        bail!("no shard of {} has started yet", results.display());
    }
    let out = out.unwrap_or_else(|| results.join("merged.db"));
    // Derived data: rebuilt from the shards every time, so merging twice counts once.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", out.display()));
    }
    let summary =
        rigor::store::merge(&shards, &out, record.shards as usize, record.planned_trials)?;
    let line = format!(
        "merged {} of {} shard(s): {} attempt(s), {} duplicate(s) skipped, into {}
report: rigor report {}",
        summary.shards,
        record.shards,
        summary.attempts,
        summary.duplicates,
        out.display(),
        out.display()
    );
    if to_stderr {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    if summary.shards < record.shards as usize {
        eprintln!(
            "{} shard(s) have not started: the merged store is incomplete",
            record.shards as usize - summary.shards
        );
    }
    if summary.missing > 0 && summary.complete == record.shards as usize {
        // Every shard finished its slice, and the slices do not cover the plan: they were
        // cut differently (shards run by different rigor versions).
        eprintln!(
            "{} measured trial(s) of the plan are in no shard's store although every shard finished: the shards' slices differ (were they run by different rigor versions?); `rigor run FILE --shard I/{} --store SHARD` on each shard's store runs what its slice lacks",
            summary.missing, record.shards
        );
    } else if summary.missing > 0 {
        eprintln!(
            "{} measured trial(s) of the plan are in no shard's store yet: the merged store is incomplete; `rigor status {}` shows which shards are still running, and `rigor submit` again runs those that stopped",
            summary.missing,
            results.display()
        );
    }
    Ok(exit::code(exit::OK))
}
