//! `rigor compare 'CMD A' 'CMD B'`: a quick A/B of shell commands, stored and reported
//! like any experiment.

use super::output::ProgressMode;
use anyhow::{Result, bail};
use rigor::define::compare;
use rigor::define::config::Order;
use rigor::run::ResumePolicy;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
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

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let Args {
        commands,
        runs,
        warmup,
        names,
        order,
        seed,
        timeout,
        store,
        progress,
    } = a;
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
    super::run::execute(
        &src,
        store,
        ResumePolicy::NewRun,
        progress,
        false,
        false,
        None,
    )
}
