//! The `rigor` command line: argument parsing and printing over the library.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use rigor::analysis::analyze;
use rigor::config::{Order, read_experiment};
use rigor::progress::{Bar, Lines, Progress, Quiet};
use rigor::runner::{self, ResumePolicy, RunOptions, Source};
use rigor::store::Store;
use rigor::{compare, envinfo, plan, report};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Parser)]
#[command(name = "rigor", version, about = "Statistically rigorous performance experiments", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    Bar,
    Lines,
    None,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment file (or resume its unfinished run).
    Run {
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
    },
    /// Show the cells, trial count, order and time estimate without running anything.
    Plan {
        file: PathBuf,
        #[arg(long)]
        store: Option<PathBuf>,
        /// Show the first N trials of the run order.
        #[arg(long, default_value_t = 20)]
        show: usize,
    },
    /// Report on a run: Markdown, tidy CSV or JSON.
    Report {
        /// An experiment file or a results store (.db).
        target: PathBuf,
        #[arg(long)]
        store: Option<PathBuf>,
        /// Run id (default: the latest run).
        #[arg(long)]
        run: Option<i64>,
        /// Formats, comma-separated: md, csv, json, html, tex.
        #[arg(long, value_delimiter = ',', default_value = "md")]
        format: Vec<Format>,
        /// Write report.md / trials.csv / report.json into this directory instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Fail (exit 1) when the analysis has any validity warning.
        #[arg(long)]
        strict: bool,
    },
    /// Distribute an experiment's trials over a Slurm cluster as a job array of shards.
    Submit {
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
    },
    /// Progress of a submitted experiment: each shard's trials and the Slurm jobs' states.
    Status { results: PathBuf },
    /// Combine the shards of a submitted experiment into one store (then `rigor report` it).
    Merge {
        results: PathBuf,
        /// The merged store (default: RESULTS/merged.db; rebuilt from the shards).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Describe this machine (what every run records about where it ran).
    Env {
        /// An experiment file: adds its hash and its directory's git commit.
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Compare samples you already have (one number per line, or a CSV column): the same
    /// tests, intervals and verdicts as `rigor report`.
    Stats {
        /// Two or more files; each is a sample named after its file stem.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        /// The sample the others are compared with (file stem; default: the first file).
        #[arg(long)]
        baseline: Option<String>,
        /// CSV column to read (the files then need a header row).
        #[arg(long)]
        metric: Option<String>,
        /// Which direction is better: for "slower/faster" or "better/worse" wording.
        #[arg(long, value_enum, default_value_t = BetterArg::Lower)]
        better: BetterArg,
        /// The values are durations (verdicts say slower/faster).
        #[arg(long)]
        time: bool,
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        #[arg(long, default_value_t = 0.95)]
        confidence: f64,
        /// Relative equivalence margin and smallest effect of interest (0.03 = ±3%).
        #[arg(long, default_value_t = 0.03)]
        margin: f64,
        /// Target power for the trials-needed estimate.
        #[arg(long, default_value_t = 0.8)]
        power: f64,
        #[arg(long, value_enum, default_value_t = CorrectionArg::Holm)]
        correction: CorrectionArg,
        /// Bootstrap resamples (where a bootstrap is used).
        #[arg(long, default_value_t = 5000)]
        resamples: usize,
        /// Seed of the bootstrap.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Machine-readable output (schema rigor.stats/1, documented in docs/statistics.md).
        #[arg(long)]
        json: bool,
    },
    /// A one-off load test of a running OpenAI-compatible server: TTFT, ITL, TPOT, E2E
    /// latency percentiles, throughput and errors. Takes the `llm-serve` workload's fields as
    /// flags (`--concurrency 8 --requests 200 --endpoint chat --output_len 128 ...`; see
    /// docs/llm-serving.md); `--json` prints the summary and every request as JSON.
    #[command(name = "serve-bench")]
    ServeBench {
        /// Base URL, e.g. http://127.0.0.1:8000
        url: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Bring the loopback interface up, then exec the command (what `unshare = ["net"]`
    /// variants run first, inside their new network namespace).
    #[command(name = "__loopback-up", hide = true)]
    LoopbackUp {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Run one trial of a built-in probe (what `gemm` and `copy` workloads run).
    #[command(hide = true)]
    Probe {
        /// gemm or copy.
        kind: String,
        /// `--field value` pairs, as in the experiment file.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Quick A/B of shell commands, stored and reported like any experiment.
    Compare {
        /// Two or more commands; the first is the baseline.
        #[arg(required = true, num_args = 2..)]
        commands: Vec<String>,
        /// Measured trials per command.
        #[arg(short = 'n', long, default_value_t = 10)]
        runs: u32,
        /// Warm-up trials per command, discarded.
        #[arg(short, long, default_value_t = 0)]
        warmup: u32,
        /// Names for the commands, comma-separated (default a, b, ...).
        #[arg(long, value_delimiter = ',')]
        names: Option<Vec<String>>,
        #[arg(long, value_enum, default_value_t = OrderArg::Interleaved)]
        order: OrderArg,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Per-trial timeout, e.g. 30s (default: none).
        #[arg(long)]
        timeout: Option<humantime::Duration>,
        /// Results store (default: rigor-results/compare.db); every compare is a new run.
        #[arg(long)]
        store: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
        progress: ProgressMode,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Md,
    Csv,
    Json,
    /// One self-contained file: figures inline, no network.
    Html,
    /// booktabs tables (and, with --out, figure snippets and the figures as SVG and PNG).
    Tex,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BetterArg {
    Lower,
    Higher,
    Unknown,
}

#[derive(Clone, Copy, ValueEnum)]
enum CorrectionArg {
    None,
    Bonferroni,
    Holm,
    Bh,
}

#[derive(Clone, Copy, ValueEnum)]
enum OrderArg {
    Sequential,
    Interleaved,
    Randomized,
    Shuffled,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Order {
        match o {
            OrderArg::Sequential => Order::Sequential,
            OrderArg::Interleaved => Order::Interleaved,
            OrderArg::Randomized => Order::Randomized,
            OrderArg::Shuffled => Order::Shuffled,
        }
    }
}

fn main() -> ExitCode {
    // Like other command-line tools, stop quietly when the reader of our output goes away
    // (`rigor serve-bench … | head`) instead of panicking on the broken pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            file,
            store,
            force,
            new_run,
            progress,
            quiet,
            strict,
            shard,
        } => {
            let (experiment, text) = read_experiment(&file)?;
            let store = store.unwrap_or_else(|| runner::default_store_path(&experiment));
            let resume = if new_run {
                ResumePolicy::NewRun
            } else if force {
                ResumePolicy::Force
            } else {
                ResumePolicy::Auto
            };
            let src = Source {
                path: file,
                text,
                experiment,
            };
            execute(
                &src,
                store,
                resume,
                if quiet { ProgressMode::None } else { progress },
                quiet,
                strict,
                shard,
            )
        }
        Command::Plan { file, store, show } => plan_cmd(&file, store, show),
        Command::Report {
            target,
            store,
            run,
            format,
            out,
            strict,
        } => report_cmd(&target, store, run, &format, out.as_deref(), strict),
        Command::Env { file, json } => env_cmd(file.as_deref(), json),
        Command::Submit {
            file,
            slurm: _,
            shards,
            results,
            partition,
            max_parallel,
            sbatch_args,
        } => submit_cmd(&file, shards, results, partition, max_parallel, sbatch_args),
        Command::Status { results } => status_cmd(&results),
        Command::Merge { results, out } => merge_cmd(&results, out),
        Command::ServeBench { url, args } => serve_bench_cmd(&url, &args),
        Command::Probe { kind, args } => Ok(ExitCode::from(rigor::probe::main(&kind, &args) as u8)),
        Command::LoopbackUp { command } => {
            let command = command
                .strip_prefix(&["--".to_string()])
                .unwrap_or(&command);
            // Only returns when it could not exec.
            Err(rigor::netns::loopback_up_then_exec(command).into())
        }
        Command::Stats {
            files,
            baseline,
            metric,
            better,
            time,
            alpha,
            confidence,
            margin,
            power,
            correction,
            resamples,
            seed,
            json,
        } => {
            use rigor::stats::multiple::Correction;
            let settings = rigor::stats::compare::Settings {
                alpha,
                confidence,
                margin,
                power,
                correction: match correction {
                    CorrectionArg::None => Correction::None,
                    CorrectionArg::Bonferroni => Correction::Bonferroni,
                    CorrectionArg::Holm => Correction::Holm,
                    CorrectionArg::Bh => Correction::BenjaminiHochberg,
                },
                resamples,
                ..Default::default()
            };
            let dir = rigor::stats::compare::Direction {
                lower_is_better: match better {
                    BetterArg::Lower => Some(true),
                    BetterArg::Higher => Some(false),
                    BetterArg::Unknown => None,
                },
                time,
            };
            stats_cmd(
                &files,
                baseline.as_deref(),
                metric.as_deref(),
                &settings,
                seed,
                dir,
                json,
            )
        }
        Command::Compare {
            commands,
            runs,
            warmup,
            names,
            order,
            seed,
            timeout,
            store,
            progress,
        } => {
            if let Some(n) = &names
                && n.len() != commands.len()
            {
                bail!(
                    "--names gives {} names for {} commands",
                    n.len(),
                    commands.len()
                );
            }
            if runs == 0 {
                bail!("-n must be at least 1");
            }
            let src = compare::experiment(&compare::CompareSpec {
                commands: &commands,
                names: names.as_deref(),
                trials: runs,
                warmup,
                order: order.into(),
                seed,
                timeout: timeout.map(Into::into),
            })?;
            for (v, c) in src.experiment.variants.iter().zip(&commands) {
                eprintln!("{} = {c}", v.name);
            }
            let store = store.unwrap_or_else(|| PathBuf::from("rigor-results/compare.db"));
            execute(
                &src,
                store,
                ResumePolicy::NewRun,
                progress,
                false,
                false,
                None,
            )
        }
    }
}

fn progress_for(mode: ProgressMode) -> Box<dyn Progress> {
    match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => Box::new(Bar::new()),
        ProgressMode::Auto | ProgressMode::Lines => Box::new(Lines::new()),
        ProgressMode::Bar => Box::new(Bar::new()),
        ProgressMode::None => Box::new(Quiet),
    }
}

fn execute(
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
    let store = Store::open_existing(&outcome.store)?;
    let data = store.load(outcome.run_id)?;
    let analysis = analyze(&data);
    if !quiet {
        for c in &analysis.claims {
            println!("{}", report::claim_line(c));
        }
        if !analysis.claims.is_empty() {
            println!();
        }
        println!("{}", report::summary_table(&analysis));
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
        return Ok(ExitCode::from(130));
    }
    let failed: u32 = analysis.cells.iter().map(|c| c.failed).sum();
    if failed > 0 {
        eprintln!(
            "{failed} measured trial(s) failed; they are recorded and excluded from the statistics"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(strict_exit(strict, &analysis))
}

/// What `rigor submit` leaves in the results directory for `status` and `merge`.
#[derive(serde::Serialize, serde::Deserialize)]
struct SubmitRecord {
    file: PathBuf,
    shards: u32,
    jobs: Vec<String>,
    /// Trials of the whole (unsharded) plan: each shard plans every warm-up, so the
    /// shards' own counts add up to more. Absent in records of older versions.
    #[serde(default)]
    planned_trials: Option<u64>,
}

fn read_record(results: &Path) -> Result<SubmitRecord> {
    let path = results.join("rigor-submit.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} has no rigor-submit.json: is it a directory `rigor submit` wrote?",
            results.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))
}

fn submit_cmd(
    file: &Path,
    shards: u32,
    results: Option<PathBuf>,
    partition: Option<String>,
    max_parallel: Option<u32>,
    sbatch_args: Vec<String>,
) -> Result<ExitCode> {
    let (exp, _) = read_experiment(file)?;
    if exp.adaptive.is_some() {
        return Err(rigor::runner::RunError::ShardAdaptive.into());
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
    let mut record = if results.join("rigor-submit.json").exists() {
        let r = read_record(&results)?;
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
        SubmitRecord {
            file: file.clone(),
            shards,
            jobs: Vec::new(),
            planned_trials: Some(rigor::plan::build(&exp).trials.len() as u64),
        }
    };
    let todo = rigor::slurm::unfinished(&results, shards);
    if todo.is_empty() {
        println!(
            "every shard in {} is complete; nothing to submit. Next: rigor merge {}",
            results.display(),
            results.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sub = rigor::slurm::Submission {
        file,
        results: results.clone(),
        shards,
        partition,
        max_parallel,
        sbatch_args,
        rigor: rigor::exec::own_exe()
            .map_err(|e| anyhow::anyhow!(e))?
            .to_path_buf(),
    };
    let script = results.join(format!("submit-{}.sbatch", record.jobs.len() + 1));
    std::fs::write(&script, rigor::slurm::script(&sub, &todo))
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
    std::fs::write(
        results.join("rigor-submit.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
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
    Ok(ExitCode::SUCCESS)
}

fn status_cmd(results: &Path) -> Result<ExitCode> {
    let record = read_record(results)?;
    let mut all_done = true;
    for p in rigor::slurm::progress(results, record.shards) {
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
    Ok(ExitCode::SUCCESS)
}

fn merge_cmd(results: &Path, out: Option<PathBuf>) -> Result<ExitCode> {
    merge_shards(results, out, false)
}

fn merge_shards(results: &Path, out: Option<PathBuf>, to_stderr: bool) -> Result<ExitCode> {
    let record = read_record(results)?;
    let shards: Vec<PathBuf> = (0..record.shards)
        .map(|i| rigor::slurm::shard_store(results, i, record.shards))
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
    Ok(ExitCode::SUCCESS)
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

/// `--strict`: any validity warning fails the command, after everything was written.
fn strict_exit(strict: bool, a: &rigor::analysis::Analysis) -> ExitCode {
    if strict && !a.warnings.is_empty() {
        let kinds: Vec<&str> = a.warnings.iter().map(|w| w.kind).collect();
        eprintln!(
            "--strict: {} validity warning(s) ({}); the results are saved, but not fit to report as they are",
            kinds.len(),
            kinds.join(", ")
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn plan_cmd(file: &Path, store: Option<PathBuf>, show: usize) -> Result<ExitCode> {
    let (exp, _) = read_experiment(file)?;
    let p = plan::build(&exp);
    let store_path = store.unwrap_or_else(|| runner::default_store_path(&exp));
    let history = if store_path.is_file() {
        Store::open_existing(&store_path)?.wall_history(&exp.name)?
    } else {
        Default::default()
    };
    let est = plan::estimate(&p, &exp, &history);
    println!(
        "experiment `{}`: {} variant(s) × {} workload(s) → {} cell(s)",
        exp.name,
        exp.variants.len(),
        exp.workloads.len(),
        p.cells.len()
    );
    println!(
        "{} trials: {} measured ({} per cell) + {} warm-up; order {} (seed {}); baseline `{}`",
        p.trials.len(),
        p.measured(),
        exp.trials,
        p.trials.len() - p.measured(),
        exp.order,
        exp.seed,
        exp.baseline
    );
    if let Some(a) = &exp.adaptive {
        println!(
            "adaptive: these are the first {} per cell; rounds follow until each comparison is settled, at most {} per cell ({} trials in all)",
            exp.trials,
            a.max,
            p.trials.len() - p.measured() + p.cells.len() * a.max as usize
        );
    }
    println!("\ncells:");
    for c in &p.cells {
        println!("  {}", c.key);
    }
    println!("\nrun order (first {}):", show.min(p.trials.len()));
    for t in p.trials.iter().take(show) {
        println!(
            "  {:>5}  {} {} {}",
            t.seq + 1,
            p.cells[t.cell].key,
            t.phase,
            t.index + 1
        );
    }
    let fmt = |d: std::time::Duration| rigor::progress::human_duration(d);
    println!();
    if est.cells_without_history == 0 {
        println!(
            "estimated duration: {} (from earlier trials in {})",
            fmt(est.known),
            store_path.display()
        );
    } else if est.cells_without_history < p.cells.len() {
        println!(
            "estimated duration: more than {}: {} cell(s) have no earlier trials to estimate from",
            fmt(est.known),
            est.cells_without_history
        );
    } else {
        println!(
            "estimated duration: unknown (no earlier trials in {}); cooldowns alone take {}",
            store_path.display(),
            fmt(est.cooldowns)
        );
    }
    if let Some(u) = est.upper_bound {
        println!(
            "upper bound if every trial hits the {} timeout: {}",
            humantime::format_duration(exp.timeout.unwrap_or_default()),
            fmt(u)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn report_cmd(
    target: &Path,
    store: Option<PathBuf>,
    run: Option<i64>,
    formats: &[Format],
    out: Option<&Path>,
    strict: bool,
) -> Result<ExitCode> {
    let is_experiment = target.extension().is_some_and(|e| e == "toml");
    // A directory `rigor submit` wrote: merge its shards first, then report the merge.
    if target.is_dir() && target.join("rigor-submit.json").exists() && store.is_none() {
        // Its summary goes to stderr: stdout carries the report.
        merge_shards(target, None, true)?;
        return report_cmd(&target.join("merged.db"), None, run, formats, out, strict);
    }
    let (store_path, experiment) = if is_experiment {
        let (exp, _) = read_experiment(target)?;
        (
            store.unwrap_or_else(|| runner::default_store_path(&exp)),
            Some(exp.name),
        )
    } else {
        (store.unwrap_or_else(|| target.to_path_buf()), None)
    };
    let store = Store::open_existing(&store_path)?;
    let run_id = match (run, &experiment) {
        (Some(r), _) => r,
        (None, Some(name)) => store
            .latest_run(name)?
            .map(|r| r.id)
            .with_context(|| format!("no run of `{name}` in {}", store_path.display()))?,
        (None, None) => store
            .last_run_id()?
            .with_context(|| format!("{} holds no run", store_path.display()))?,
    };
    let data = store.load(run_id)?;
    let analysis = analyze(&data);
    // HTML carries them inline; Markdown and LaTeX only beside files in --out.
    let wants_figures = formats.contains(&Format::Html)
        || (out.is_some()
            && formats
                .iter()
                .any(|f| matches!(f, Format::Md | Format::Tex)));
    let figures = if wants_figures {
        let extras = report::figures::Extras::load(&store, &data)?;
        report::figures::figures(&analysis, &extras).map_err(|e| anyhow::anyhow!(e))?
    } else {
        Vec::new()
    };
    match out {
        None => {
            if formats.len() != 1 {
                bail!("several formats need --out DIR (each goes to its own file)");
            }
            let stdout = std::io::stdout();
            match formats[0] {
                Format::Md => print!("{}", report::to_markdown(&analysis, &data)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report::to_json(&analysis, &data))?
                ),
                Format::Csv => report::write_csv(&data, stdout.lock())?,
                Format::Html => print!("{}", report::to_html(&analysis, &data, &figures)),
                Format::Tex => print!("{}", report::to_latex(&analysis)),
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut pngs = true;
            if !figures.is_empty() {
                let fdir = dir.join("figures");
                let no_png =
                    report::figures::write_dir(&figures, &fdir).map_err(|e| anyhow::anyhow!(e))?;
                let kinds = if no_png.is_none() {
                    "SVG and PNG"
                } else {
                    "SVG only"
                };
                println!(
                    "wrote {} figures ({kinds}) in {}",
                    figures.len(),
                    fdir.display()
                );
                if let Some(e) = no_png {
                    pngs = false;
                    eprintln!("warning: no PNG figures: {e}");
                }
            }
            for f in formats {
                let path = match f {
                    Format::Md => dir.join("report.md"),
                    Format::Csv => dir.join("trials.csv"),
                    Format::Json => dir.join("report.json"),
                    Format::Html => dir.join("report.html"),
                    Format::Tex => dir.join("tables.tex"),
                };
                let write = || -> Result<()> {
                    match f {
                        Format::Md => std::fs::write(
                            &path,
                            report::to_markdown_with(
                                &analysis,
                                &data,
                                report::Figures::Linked(&figures, pngs),
                            ),
                        )?,
                        Format::Json => std::fs::write(
                            &path,
                            serde_json::to_string_pretty(&report::to_json(&analysis, &data))?,
                        )?,
                        Format::Csv => report::write_csv(&data, std::fs::File::create(&path)?)?,
                        Format::Html => {
                            std::fs::write(&path, report::to_html(&analysis, &data, &figures))?
                        }
                        Format::Tex => {
                            std::fs::write(&path, report::to_latex(&analysis))?;
                            let snippets = if pngs {
                                report::figures_tex(&figures)
                            } else {
                                "% no figures: their PNGs could not be drawn (no font installed); the SVGs are in figures/\n".to_string()
                            };
                            std::fs::write(dir.join("figures.tex"), snippets)?;
                        }
                    }
                    Ok(())
                };
                write().with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(strict_exit(strict, &analysis))
}

fn serve_bench_cmd(url: &str, args: &[String]) -> Result<ExitCode> {
    let json = args.iter().any(|a| a == "--json");
    let mut pairs = vec!["--url".to_string(), url.to_string()];
    pairs.extend(args.iter().filter(|a| *a != "--json").cloned());
    let fields = rigor::probe::parse_args(rigor::probe::Probe::LlmServe, &pairs)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = rigor::llm::Options::from_fields(&fields).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = rigor::llm::run(&opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let s = &out.summary;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": s,
                "server_counters": out.server_counters,
                "requests": out.records,
            }))?
        );
    } else {
        println!(
            "{} requests: {} ok, {} failed in {:.2} s; {:.2} req/s{}{}",
            s.requests,
            s.ok,
            s.failed,
            s.duration_s,
            s.req_s,
            s.output_tok_s
                .map(|t| format!(", {t:.1} output tok/s"))
                .unwrap_or_default(),
            s.total_tok_s
                .map(|t| format!(", {t:.1} total tok/s"))
                .unwrap_or_default(),
        );
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["ms", "n", "mean", "median", "p90", "p95", "p99", "max"]);
        for (name, d) in [
            ("TTFT", &s.ttft_ms),
            ("ITL", &s.itl_ms),
            ("TPOT", &s.tpot_ms),
            ("E2E", &s.e2e_ms),
        ] {
            match d {
                Some(d) => t.add_row(
                    std::iter::once(name.to_string())
                        .chain(std::iter::once(d.n.to_string()))
                        .chain(
                            [d.mean, d.median, d.p90, d.p95, d.p99, d.max]
                                .map(rigor::report::fmt_num),
                        ),
                ),
                None => t.add_row([name, "0", "not measured", "", "", "", "", ""]),
            };
        }
        println!("{t}");
        if let Some(why) = &s.tokens_missing {
            println!("token counts: {why}");
        }
        if let Some(g) = s.goodput_req_s {
            println!("goodput: {g:.2} req/s within the SLOs");
        }
        if let Some(d) = &s.server {
            println!("server: {} (by {})", d.server.name(), d.by);
        }
        if let Some(why) = &s.exact_length {
            println!("output lengths: {why}");
        }
        if let Some(c) = &s.connections {
            println!(
                "connections: {} opened, {} reused; keep-alive: {}",
                c.opened, c.reused, c.keep_alive
            );
        }
        if s.retries > 0 {
            println!(
                "{} request(s) sent again: the first send never reached the server (timed from the second)",
                s.retries
            );
        }
        if !s.notes.is_empty() {
            let notes: Vec<String> = s.notes.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "notes (what the server left out; no request failed for it): {}",
                notes.join(", ")
            );
        }
        if s.cancelled > 0 {
            println!(
                "{} request(s) still in flight when the duration ended were cancelled; the latencies leave them out (set --grace to let them finish)",
                s.cancelled
            );
        }
        for (kind, n, example) in out.failures() {
            println!("{n} failed ({kind}): {example}");
        }
    }
    match out.failure(opts.max_error_rate, true) {
        Some(why) => {
            eprintln!("serve-bench: {why}");
            Ok(ExitCode::from(1))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn env_cmd(file: Option<&Path>, json: bool) -> Result<ExitCode> {
    let (dir, sha) = match file {
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            let dir = f
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (dir, Some(runner::sha256_hex(&text)))
        }
        None => (PathBuf::from("."), None),
    };
    let env = envinfo::capture(&dir, sha.as_deref());
    if json {
        println!("{}", serde_json::to_string_pretty(&env)?);
    } else {
        for (k, v) in env.lines() {
            println!("{k:>24}: {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn stats_cmd(
    files: &[PathBuf],
    baseline: Option<&str>,
    metric: Option<&str>,
    settings: &rigor::stats::compare::Settings,
    seed: u64,
    dir: rigor::stats::compare::Direction,
    json: bool,
) -> Result<ExitCode> {
    let within = |v: f64, lo: f64, hi: f64| v > lo && v < hi;
    if !(within(settings.alpha, 0.0, 0.5 + f64::EPSILON)
        && within(settings.confidence, 0.5, 1.0)
        && within(settings.margin, 0.0, 1.0)
        && within(settings.power, 0.5, 1.0))
    {
        bail!(
            "--alpha must be in (0, 0.5], --confidence and --power in (0.5, 1), --margin in (0, 1)"
        );
    }
    if settings.resamples < 1000 {
        bail!("--resamples must be at least 1000");
    }
    let mut samples = Vec::new();
    for f in files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        if samples.iter().any(|(n, _): &(String, Vec<f64>)| n == &name) {
            bail!("two files are named `{name}`; rename one so the samples can be told apart");
        }
        samples.push((name, rigor::samples::load(f, metric)?));
    }
    let base = match baseline {
        None => 0,
        Some(b) => samples.iter().position(|(n, _)| n == b).with_context(|| {
            format!(
                "--baseline {b}: no such sample; the samples are: {}",
                samples
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    let r = rigor::samples::analyze_samples(&samples, base, settings, seed, dir);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    use rigor::report::fmt_num;
    use rigor::stats::compare::p_eq;
    println!(
        "sample        n  mean        sd          CV      median      {}% CI of mean         Shapiro–Wilk",
        settings.confidence * 100.0
    );
    for s in &r.samples {
        let m = &s.desc.stats;
        println!(
            "{:<12} {:>3}  {:<10}  {:<10}  {:<6}  {:<10}  {:<22} {}",
            s.name,
            m.n,
            fmt_num(m.mean),
            m.sd.map(fmt_num).unwrap_or_else(|| "—".into()),
            m.cv.map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "—".into()),
            fmt_num(m.median),
            s.desc
                .mean_ci
                .map(|c| format!("[{}, {}]", fmt_num(c[0]), fmt_num(c[1])))
                .unwrap_or_else(|| "—".into()),
            s.desc
                .normality
                .map(|n| format!("W = {:.3}, {}", n.w, p_eq("p", n.p)))
                .unwrap_or_else(|| "—".into()),
        );
    }
    println!();
    for c in &r.comparisons {
        println!("{} vs {}: {}", c.variant, c.baseline, c.result.verdict);
        if let Some(i) = &c.result.inference {
            println!("  test: {}", i.test_reason);
            if let Some(e) = i.effect {
                println!(
                    "  effect: Hedges' g = {:.2} [{:.2}, {:.2}], Cliff's delta = {:.2}; power at ±{}%: {}",
                    e.hedges_g.value,
                    e.hedges_g.ci[0],
                    e.hedges_g.ci[1],
                    e.cliffs_delta,
                    settings.margin * 100.0,
                    i.power_at_margin
                        .map(|p| format!("{:.0}%", p * 100.0))
                        .unwrap_or_else(|| "—".into())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
