//! `rigor submit FILE --slurm`: the experiment as a Slurm job array of shards.

use super::exit;
use anyhow::{Context, Result, bail};
use rigor::define::config::read_experiment;
use rigor::run::slurm;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The experiment file.
    file: PathBuf,
    /// Submit with sbatch (the only scheduler so far).
    #[arg(long, required = true)]
    slurm: bool,
    /// Number of shards (array tasks).
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Shared results directory (default: rigor-results/<experiment>-slurm).
    #[arg(long)]
    results: Option<PathBuf>,
    #[arg(long)]
    partition: Option<String>,
    /// At most K array tasks at once.
    #[arg(long)]
    max_parallel: Option<u32>,
    /// An extra sbatch option, e.g. --sbatch-arg=--gres=gpu:1 (repeatable).
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let Args {
        file,
        slurm: _,
        shards,
        results,
        partition,
        max_parallel,
        sbatch_args,
    } = a;
    let file = file.as_path();
    let (exp, _) = read_experiment(file)?;
    if exp.adaptive.is_some() {
        return Err(rigor::run::RunError::ShardAdaptive.into());
    }
    if shards == 0 {
        bail!("--shards must be at least 1");
    }
    let results = results
        .unwrap_or_else(|| PathBuf::from("rigor-results").join(format!("{}-slurm", exp.name)));
    std::fs::create_dir_all(&results)
        .with_context(|| format!("cannot create {}", results.display()))?;
    let results = results.canonicalize()?;
    let file = file
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", file.display()))?;
    // A directory submitted to before: same experiment and shards, or refuse (an unreadable
    // record is an error, not a fresh start: it holds the job ids `status` reports).
    let mut record = if slurm::has_record(&results) {
        let r = slurm::read_record(&results)?;
        if r.file != file {
            bail!(
                "{} holds shards of {}, not {}; use another --results directory",
                results.display(),
                r.file.display(),
                file.display()
            );
        }
        if r.shards != shards {
            bail!(
                "{} was submitted with {} shards; resubmit with --shards {} (or use another --results directory)",
                results.display(),
                r.shards,
                r.shards
            );
        }
        r
    } else {
        slurm::SubmitRecord {
            file: file.clone(),
            shards,
            jobs: Vec::new(),
            planned_trials: Some(rigor::plan::build(&exp).trials.len() as u64),
        }
    };
    let todo = slurm::unfinished(&results, shards);
    if todo.is_empty() {
        println!(
            "every shard in {} is complete; nothing to submit. Next: rigor merge {}",
            results.display(),
            results.display()
        );
        return Ok(exit::code(exit::OK));
    }
    let sub = slurm::Submission {
        file,
        results: results.clone(),
        shards,
        partition,
        max_parallel,
        sbatch_args,
        rigor: rigor::machine::own_exe()
            .map_err(|e| anyhow::anyhow!(e))?
            .to_path_buf(),
    };
    let script = results.join(format!("submit-{}.sbatch", record.jobs.len() + 1));
    std::fs::write(&script, slurm::script(&sub, &todo))
        .with_context(|| format!("cannot write {}", script.display()))?;
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .context("cannot run sbatch: is Slurm installed and on PATH?")?;
    if !out.status.success() {
        bail!(
            "sbatch refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let job = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    record.jobs.push(job.clone());
    slurm::write_record(&results, &record)?;
    println!(
        "submitted job {job}: {} of {shards} shard(s) ({}) of `{}`; results in {}
progress: rigor status {}
when done: rigor merge {}",
        todo.len(),
        todo.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        exp.name,
        results.display(),
        results.display(),
        results.display()
    );
    Ok(exit::code(exit::OK))
}
