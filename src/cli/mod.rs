//! The command line: one file per subcommand (its `Args` and its `exec`), the shared output
//! helpers, and the exit statuses. The only part of rigor that prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod capacity;
mod compare;
mod completions;
mod diff;
mod env;
pub mod exit;
mod fields;
mod history;
mod import;
mod loopback;
mod man;
mod merge;
mod output;
mod plan;
mod probe;
mod progress;
mod report;
mod run;
mod serve_bench;
mod stats;
mod status;
mod submit;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rigor",
    version,
    about = "Statistically rigorous performance experiments",
    long_about = "Statistically rigorous performance experiments for GPU and LLM-inference systems: \
                  one declarative experiment file, a resumable runner that records every trial, \
                  and reports that say what was measured, what failed, and what cannot be trusted.",
    after_help = "Exit status: 0 all ran; 1 trials or requests failed, a bad file, or --strict warnings; \
                  2 a usage error; 130 interrupted (run the same command again to resume)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment file (or resume its unfinished run).
    Run(run::Args),
    /// Show the cells, trial count, order and time estimate without running anything.
    Plan(plan::Args),
    /// Report on a run: Markdown, tidy CSV, JSON, self-contained HTML or LaTeX tables.
    Report(report::Args),
    /// Quick A/B of shell commands, stored and reported like any experiment.
    Compare(compare::Args),
    /// Two runs of one experiment side by side: what changed, with report's statistics.
    Diff(diff::Args),
    /// Every metric of an experiment across its runs: step changes, and what changed then.
    History(history::Args),
    /// Another tool's results (hyperfine, AIPerf) as a run of a store, for rigor's statistics.
    Import(import::Args),
    /// Distribute an experiment's trials over a Slurm cluster as a job array of shards.
    Submit(submit::Args),
    /// Progress of a submitted experiment: each shard's trials and the Slurm jobs' states.
    Status(status::Args),
    /// Combine the shards of a submitted experiment into one store (then `rigor report` it).
    Merge(merge::Args),
    /// Describe this machine (what every run records about where it ran).
    Env(env::Args),
    /// Compare samples you already have (one number per line, or a CSV column): the same
    /// tests, intervals and verdicts as `rigor report`.
    Stats(stats::Args),
    /// A one-off load test of a running OpenAI-compatible server: TTFT, ITL, TPOT and E2E
    /// percentiles, throughput and errors (docs/llm-serving.md).
    #[command(name = "serve-bench")]
    ServeBench(serve_bench::Args),
    /// The highest request rate (or concurrency) at which a server meets an objective, with
    /// a confidence interval, the latency curve and its knee (docs/llm-serving.md).
    Capacity(capacity::Args),
    /// Shell completions: `rigor completions bash > /etc/bash_completion.d/rigor`.
    Completions(completions::Args),
    /// The manual page, as roff: `rigor man > rigor.1`.
    Man(man::Args),
    /// Run one trial of a built-in workload (what `gemm`, `copy` and `llm-serve` workloads run).
    #[command(hide = true)]
    Probe(probe::Args),
    /// Bring the loopback interface up, then exec the command (what `unshare = ["net"]`
    /// variants run first, inside their new network namespace).
    #[command(name = "__loopback-up", hide = true)]
    LoopbackUp(loopback::Args),
}

pub fn main() -> ExitCode {
    // Like other command-line tools, stop quietly when the reader of our output goes away
    // (`rigor serve-bench … | head`) instead of panicking on the broken pipe.
    // SAFETY: restoring the default disposition of a signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return exit::code(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Run(a) => run::exec(a),
        Command::Plan(a) => plan::exec(a),
        Command::Report(a) => report::exec(a),
        Command::Compare(a) => compare::exec(a),
        Command::Diff(a) => diff::exec(a),
        Command::History(a) => history::exec(a),
        Command::Import(a) => import::exec(a),
        Command::Submit(a) => submit::exec(a),
        Command::Status(a) => status::exec(a),
        Command::Merge(a) => merge::exec(a),
        Command::Env(a) => env::exec(a),
        Command::Stats(a) => stats::exec(a),
        Command::ServeBench(a) => serve_bench::exec(a),
        Command::Capacity(a) => capacity::exec(a),
        Command::Completions(a) => completions::exec(a),
        Command::Man(a) => man::exec(a),
        Command::Probe(a) => probe::exec(a),
        Command::LoopbackUp(a) => loopback::exec(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::FAILED)
        }
    }
}

/// The whole command tree, for completions and the manual.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
