//! `rigor status DIR`: each shard's trials and the Slurm jobs' states.

use super::exit;
use anyhow::Result;
use rigor::run::slurm;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The results directory `rigor submit` wrote.
    results: PathBuf,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let results = a.results.as_path();
    let record = slurm::read_record(results)?;
    let mut all_done = true;
    for p in slurm::progress(results, record.shards) {
        all_done &= p.status == "complete";
        println!(
            "shard {}/{}: {}/{} trials, {}",
            p.index, record.shards, p.finished, p.planned, p.status
        );
    }
    if !record.jobs.is_empty() {
        match std::process::Command::new("squeue")
            .args(["-h", "-o", "%i %T %R", "-j", &record.jobs.join(",")])
            .output()
        {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                if text.trim().is_empty() {
                    println!(
                        "slurm: no job of {} is queued or running",
                        record.jobs.join(", ")
                    );
                } else {
                    for line in text.lines() {
                        println!("slurm: {line}");
                    }
                }
            }
            Ok(o) => println!(
                "slurm: squeue: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => println!("slurm: cannot run squeue: {e}"),
        }
    }
    if all_done {
        println!("every shard is complete: rigor merge {}", results.display());
    }
    Ok(exit::code(exit::OK))
}
