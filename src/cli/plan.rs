//! `rigor plan FILE`: the cells, trial count, run order and a time estimate, without
//! running anything.

use super::exit;
use anyhow::Result;
use rigor::define::config::read_experiment;
use rigor::run as runner;
use rigor::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The experiment file.
    file: PathBuf,
    /// Results store whose earlier trials time the estimate (default: rigor-results/<experiment>.db).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Show the first N trials of the run order.
    #[arg(long, default_value_t = 20)]
    show: usize,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (file, store, show) = (a.file.as_path(), a.store, a.show);
    let (exp, _) = read_experiment(file)?;
    // `gpus = "all"` is counted on this machine; a list plans anywhere.
    let lanes = match exp.lanes.as_ref().map(|l| l.declared()) {
        Some(None) => Some(rigor::run::lanes::resolve(&exp).map_err(|e| {
            anyhow::anyhow!("lanes: {e}\nhint: name the GPUs (`gpus = [0, 1]`) to plan on a machine without them")
        })?),
        _ => None,
    };
    let p = match &lanes {
        Some(l) => rigor::plan::build_for(&exp, l.len()),
        None => rigor::plan::build(&exp),
    };
    let store_path = store.unwrap_or_else(|| runner::default_store_path(&exp));
    let history = if store_path.is_file() {
        Store::open_read(&store_path)?.wall_history(&exp.name)?
    } else {
        Default::default()
    };
    let est = rigor::plan::estimate(&p, &exp, &history);
    println!(
        "experiment `{}`: {} variant(s) × {} workload(s) → {} cell(s)",
        exp.name,
        exp.variants.len(),
        exp.workloads.len(),
        p.cells.len()
    );
    let count = |phase| p.trials.iter().filter(|t| t.phase == phase).count();
    let alone = count(rigor::plan::Phase::Isolation);
    println!(
        "{} trials: {} measured ({} per cell) + {} warm-up{}; order {} (seed {}); baseline `{}`",
        p.trials.len(),
        p.measured(),
        exp.trials,
        count(rigor::plan::Phase::Warmup),
        if alone > 0 {
            format!(" + {alone} alone (isolation check)")
        } else {
            String::new()
        },
        exp.order,
        exp.seed,
        exp.baseline
    );
    if let Some(spec) = exp.lanes.as_ref().filter(|_| p.lanes > 1) {
        let devices: Vec<String> = match (&lanes, &spec.devices) {
            (Some(l), _) => l.iter().map(|l| l.device.clone()).collect(),
            (None, rigor::define::config::LaneDevices::Gpus(g)) => {
                g.iter().map(|g| format!("gpu {g}")).collect()
            }
            (None, rigor::define::config::LaneDevices::Cpus(c)) => {
                c.iter().map(|c| format!("cpus {c}")).collect()
            }
            (None, rigor::define::config::LaneDevices::AllGpus) => Vec::new(),
        };
        println!(
            "lanes: {} side by side ({}); each cell's trials spread evenly over them",
            p.lanes,
            devices.join(", ")
        );
        if let Some(note) = rigor::plan::lane_balance(&p) {
            println!("note: {note}");
        }
    }
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
        let lane = match t.lane.filter(|_| p.lanes > 1) {
            Some(l) if t.phase == rigor::plan::Phase::Isolation => {
                format!("lane {l} alone  ")
            }
            Some(l) => format!("lane {l}  "),
            None => String::new(),
        };
        println!(
            "  {:>5}  {lane}{} {} {}",
            t.seq + 1,
            p.cells[t.cell].key,
            t.phase,
            t.index + 1
        );
    }
    let fmt = |d: std::time::Duration| rigor::run::progress::human_duration(d);
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
    Ok(exit::code(exit::OK))
}
