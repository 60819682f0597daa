//! `rigor run FILE`: run an experiment, or resume its unfinished run.

use super::exit;
use super::output::{ProgressMode, progress_for, strict_exit};
use anyhow::{Context, Result};
use rigor::analyse::analyze;
use rigor::define::config::read_experiment;
use rigor::run::{self as runner, ResumePolicy, RunOptions, Source};
use rigor::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
pub struct Args {
    /// The experiment file.
    file: PathBuf,
    /// Results store (default: rigor-results/<experiment>.db).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Continue the latest run even though the experiment file changed.
    #[arg(long, conflicts_with = "new_run")]
    force: bool,
    /// Start a new run instead of resuming the latest one.
    #[arg(long)]
    new_run: bool,
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Fail (exit 1) when the analysis has any validity warning.
    #[arg(long)]
    strict: bool,
    /// Run only shard I of N (0-based), e.g. a Slurm array task: `--shard 2/8`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (experiment, text) = read_experiment(&a.file)?;
    let store = a
        .store
        .unwrap_or_else(|| runner::default_store_path(&experiment));
    let resume = if a.new_run {
        ResumePolicy::NewRun
    } else if a.force {
        ResumePolicy::Force
    } else {
        ResumePolicy::Auto
    };
    let src = Source {
        path: a.file,
        text,
        experiment,
    };
    let mode = if a.quiet {
        ProgressMode::None
    } else {
        a.progress
    };
    execute(&src, store, resume, mode, a.quiet, a.strict, a.shard)
}

/// Runs `src` into `store` and prints the claims, the summary table and the warnings.
pub fn execute(
    src: &Source,
    store: PathBuf,
    resume: ResumePolicy,
    mode: ProgressMode,
    quiet: bool,
    strict: bool,
    shard: Option<(u32, u32)>,
) -> Result<ExitCode> {
    let interrupt = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&interrupt))
            .context("cannot install the signal handler")?;
    }
    let opts = RunOptions {
        shard,
        store,
        resume,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let mut progress = progress_for(mode);
    let outcome = runner::run(src, &opts, progress.as_mut(), &interrupt)?;
    let store = Store::open_read(&outcome.store)?;
    let data = store.load(outcome.run_id)?;
    let analysis = analyze(&data);
    if !quiet {
        for c in &analysis.claims {
            println!("{}", rigor::report::claim_line(c));
        }
        if !analysis.claims.is_empty() {
            println!();
        }
        println!("{}", rigor::report::summary_table(&analysis));
        for w in &analysis.warnings {
            println!(
                "warning [{}]: {}\n  what to do: {}",
                w.kind, w.message, w.advice
            );
        }
        let store_arg = outcome.store.display();
        println!(
            "\nrun {} of `{}`: {} trial(s) run now, {} done before; results in {store_arg}\nfull report: rigor report {store_arg} --format md,csv,json --out report/",
            outcome.run_id, src.experiment.name, outcome.executed, outcome.already_done
        );
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: every finished trial is saved; run the same command again to resume"
        );
        return Ok(exit::code(exit::INTERRUPTED));
    }
    let failed: u32 = analysis.cells.iter().map(|c| c.failed).sum();
    if failed > 0 {
        eprintln!(
            "{failed} measured trial(s) failed; they are recorded and excluded from the statistics"
        );
        return Ok(exit::code(exit::FAILED));
    }
    Ok(strict_exit(strict, &analysis))
}

/// `I/N` with I < N.
fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not I/N (e.g. 0/4)"))?;
    let (i, n): (u32, u32) = (
        i.trim()
            .parse()
            .map_err(|_| format!("`{i}` is not a shard number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a shard count"))?,
    );
    if n == 0 || i >= n {
        return Err(format!(
            "shard {i}/{n}: I must be below N (shards are numbered 0..N-1)"
        ));
    }
    Ok((i, n))
}
