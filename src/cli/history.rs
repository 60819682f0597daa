//! `rigor history FILE|DB`: every metric of an experiment across its runs, the steps found
//! in them and what changed in the environment at each step.

use anyhow::{Context, Result};
use rigor::analyse::history::{ALPHA, MIN_RUNS, PERMUTATIONS, Series, history};
use rigor::define::config::read_experiment;
use rigor::store::Store;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// An experiment file (its default store) or a results store (.db).
    target: PathBuf,
    /// The experiment whose runs to follow (default: the store's latest run's).
    #[arg(long)]
    experiment: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    /// Write history.md and a trend figure per series (figures/) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn fmt(v: f64) -> String {
    rigor::analyse::words::fmt_num(v)
}

fn markdown(name: &str, series: &[Series], runs: usize, figures: bool) -> String {
    let names = slugs(series);
    let mut o = format!(
        "# History of `{name}`: {runs} run(s)\n\nEach point is a run's mean over its successful trials, with the t-interval of that mean. Steps: binary segmentation with a permutation test of the largest standardised mean shift at each split ({PERMUTATIONS} permutations, α = {ALPHA}, at least {MIN_RUNS} runs each side): on a series without a step, the chance of reporting one is at most {ALPHA}, per series: among many series, expect about that fraction to show a false step (docs/reports.md).\n\n",
    );
    let with: Vec<&Series> = series.iter().filter(|s| !s.steps.is_empty()).collect();
    if with.is_empty() {
        o.push_str("No step found in any series.\n\n");
    } else {
        o.push_str("## Steps\n\n");
        for s in &with {
            for st in &s.steps {
                let change = if st.before_mean != 0.0 {
                    format!(" ({:+.1}%)", 100.0 * (st.after_mean / st.before_mean - 1.0))
                } else {
                    String::new()
                };
                let _ = write!(
                    o,
                    "- `{}` **{}**: from run {} on, {} → {}{change}, p = {}",
                    s.cell,
                    s.metric,
                    st.run_id,
                    fmt(st.before_mean),
                    fmt(st.after_mean),
                    fmt(st.p)
                );
                if st.environment.is_empty() {
                    o.push_str("; the recorded environment did not change there\n");
                } else {
                    let what: Vec<String> = st
                        .environment
                        .iter()
                        .map(|(k, a, b)| format!("`{k}` {a} → {b}"))
                        .collect();
                    let _ = writeln!(o, "; changed then: {}", what.join(", "));
                }
            }
        }
        o.push('\n');
    }
    for (s, fig) in series.iter().zip(&names) {
        let unit = s
            .unit
            .as_deref()
            .map(|u| format!(" [{u}]"))
            .unwrap_or_default();
        let _ = writeln!(o, "## `{}` {}{unit}\n", s.cell, s.metric);
        if figures {
            let _ = writeln!(o, "![{} {}](figures/{fig}.svg)\n", s.cell, s.metric);
        }
        o.push_str("| run | started | n | mean | interval |\n|---:|---|---:|---:|---|\n");
        for p in &s.points {
            let ci =
                p.ci.map(|c| format!("[{}, {}]", fmt(c[0]), fmt(c[1])))
                    .unwrap_or_else(|| "—".into());
            let mark = if s.steps.iter().any(|st| st.run_id == p.run_id) {
                " ← step"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {ci}{mark} |",
                p.run_id,
                p.started_at,
                p.n,
                fmt(p.mean)
            );
        }
        o.push('\n');
    }
    o
}

/// File names for the series' figures, distinct even where two names slug alike.
fn slugs(series: &[Series]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in series {
        let base = rigor::report::slug(&format!("{} {}", s.cell, s.metric));
        let mut name = base.clone();
        let mut i = 2;
        while out.contains(&name) {
            name = format!("{base}-{i}");
            i += 1;
        }
        out.push(name);
    }
    out
}

fn write_figures(series: &[Series], dir: &Path) -> Result<()> {
    let figs = dir.join("figures");
    std::fs::create_dir_all(&figs).with_context(|| format!("cannot create {}", figs.display()))?;
    for (s, name) in series.iter().zip(slugs(series)) {
        let at: Vec<usize> = s
            .steps
            .iter()
            .filter_map(|st| s.points.iter().position(|p| p.run_id == st.run_id))
            .collect();
        let ylabel = match &s.unit {
            Some(u) => format!("{} [{u}]", s.metric),
            None => s.metric.clone(),
        };
        let svg = rigor::report::figures::trend(
            &format!("{}: {}", s.cell, s.metric),
            &ylabel,
            &s.points,
            &at,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let path = figs.join(format!("{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (store_path, named) = if a.target.extension().is_some_and(|e| e == "toml") {
        let (exp, _) = read_experiment(&a.target)?;
        (rigor::run::default_store_path(&exp), Some(exp.name))
    } else {
        (a.target.clone(), None)
    };
    let store = Store::open_read(&store_path)?;
    let name = match a.experiment.or(named) {
        Some(n) => n,
        None => {
            let id = store
                .last_run_id()?
                .with_context(|| format!("{} holds no run", store_path.display()))?;
            store.run(id)?.experiment
        }
    };
    let ids = store.runs_of(&name)?;
    if ids.is_empty() {
        anyhow::bail!("no run of `{name}` in {}", store_path.display());
    }
    let runs = ids
        .iter()
        .map(|&id| store.load(id))
        .collect::<Result<Vec<_>, _>>()?;
    let seed = runs.last().map_or(0, |r| r.run.seed);
    let series = history(&runs, seed);
    match (a.format, &a.out) {
        (Format::Json, None) => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"experiment": name, "runs": ids, "series": series})
            )?
        ),
        (Format::Md, None) => print!("{}", markdown(&name, &series, runs.len(), false)),
        (_, Some(dir)) => {
            write_figures(&series, dir)?;
            let path = dir.join("history.md");
            std::fs::write(&path, markdown(&name, &series, runs.len(), true))
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {} and {} figure(s) in {}",
                path.display(),
                series.len(),
                dir.join("figures").display()
            );
        }
    }
    Ok(super::exit::code(super::exit::OK))
}
