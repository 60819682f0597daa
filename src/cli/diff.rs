//! `rigor diff OLD NEW`: two runs of one experiment side by side (two stores, or two runs
//! of one store: `a.db#3`), with `report`'s statistics, the environment that changed, and
//! an exit status for CI (`--fail-on`).

use super::exit;
use anyhow::{Context, Result};
use rigor::analyse::diff::{Combined, combine};
use rigor::analyse::{Analysis, Comparison, analyze, direction};
use rigor::stats::compare::Outcome;
use rigor::store::{RunData, Store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown: what changed around the runs, then the report.
    Md,
    Json,
    /// One self-contained HTML file, as `rigor report --format html` (no figures).
    Html,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Never fail on a difference.
    None,
    /// Exit 1 when NEW is significantly worse on any metric (after correction).
    Slower,
    /// Exit 1 when NEW differs significantly either way.
    Different,
}

#[derive(clap::Args)]
pub struct Args {
    /// The earlier run: a store (`old.db`, its latest run) or one run of it (`old.db#3`).
    old: String,
    /// The later run, the same way.
    new: String,
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    /// Exit 1 on a significant change (for CI).
    #[arg(long, value_enum, default_value_t = FailOn::None)]
    fail_on: FailOn,
}

fn load(spec: &str) -> Result<RunData> {
    let (path, run) = match spec.rsplit_once('#') {
        Some((p, r)) => (
            p,
            Some(r.parse::<i64>().with_context(|| {
                format!("`{spec}`: after `#` comes a run id (a number), not `{r}`")
            })?),
        ),
        None => (spec, None),
    };
    let store = Store::open_read(&PathBuf::from(path))?;
    let id = match run {
        Some(r) => r,
        None => store
            .last_run_id()?
            .with_context(|| format!("{path} holds no run"))?,
    };
    Ok(store.load(id)?)
}

/// The comparisons `--fail-on` judges: per workload, its own metrics (and the telemetry
/// `compare` names) when it has any, else `wall_time`, as adaptive stopping decides; the
/// runner's timings of a program that measures itself move with the machine's load.
fn judged(a: &Analysis) -> Vec<&Comparison> {
    let mut out = Vec::new();
    for w in rigor::analyse::workloads(&a.cells) {
        let of_w: Vec<&Comparison> = a.comparisons.iter().filter(|c| c.workload == w).collect();
        let own = rigor::analyse::own_or_wall_time(
            of_w.iter().map(|c| c.metric.as_str()),
            &a.settings.compare,
        );
        out.extend(of_w.into_iter().filter(|c| own.contains(&c.metric)));
    }
    out
}

/// `workload[k=v,…] metric`, as a failing comparison is named on stderr.
fn label(c: &Comparison) -> String {
    format!(
        "{}{} {}",
        c.workload,
        rigor::plan::fmt_params(&c.sweep),
        c.metric
    )
}

fn changed(judged: &[&Comparison], worse_only: bool) -> Vec<String> {
    judged
        .iter()
        .filter_map(|c| {
            let i = c.result.inference.as_ref()?;
            (i.outcome == Outcome::Different).then_some(())?;
            let lower_better = direction(c.better.as_deref(), c.unit.as_deref()).lower_is_better;
            let worse = match (lower_better, c.ratio) {
                (Some(true), Some(r)) => r > 1.0,
                (Some(false), Some(r)) => r < 1.0,
                _ => false,
            };
            (!worse_only || worse).then(|| format!("{}: {}", label(c), c.result.verdict))
        })
        .collect()
}

fn markdown(c: &Combined, a: &Analysis, old: &str, new: &str) -> String {
    let mut o = header(c, old, new);
    o.push_str(&rigor::report::to_markdown(a, &c.data));
    o
}

/// What the comparison cannot see by itself, before the report.
fn header(c: &Combined, old: &str, new: &str) -> String {
    let mut o = format!("# rigor diff: `{old}` (OLD) → `{new}` (NEW)\n\n");
    if c.experiment_changed {
        o.push_str("**The experiment changed between the runs** (what decides the trials differs): read every difference below with that in mind.\n\n");
    }
    for (side, keys) in [("OLD", &c.only_old), ("NEW", &c.only_new)] {
        if !keys.is_empty() {
            o.push_str(&format!(
                "Cells only in {side}, not compared: {}\n\n",
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if c.environment.is_empty() {
        o.push_str("The recorded environments are the same.\n\n");
    } else {
        o.push_str("## What changed around the runs\n\n| setting | OLD | NEW |\n|---|---|---|\n");
        // Values are the machine's text: kept from breaking the table or becoming markup.
        let cell = |v: &str| v.replace('|', "\\|").replace('<', "&lt;");
        for (k, a, b) in &c.environment {
            o.push_str(&format!("| `{k}` | {} | {} |\n", cell(a), cell(b)));
        }
        o.push('\n');
    }
    o
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (old, new) = (load(&a.old)?, load(&a.new)?);
    let combined = combine(&old, &new);
    let analysis = analyze(&combined.data);
    match a.format {
        Format::Md => print!("{}", markdown(&combined, &analysis, &a.old, &a.new)),
        Format::Html => print!(
            "{}",
            rigor::report::to_html_after(
                &analysis,
                &combined.data,
                &[],
                &header(&combined, &a.old, &a.new)
            )
        ),
        Format::Json => {
            let mut j = rigor::report::to_json(&analysis, &combined.data);
            j["diff"] = serde_json::json!({
                "old": a.old,
                "new": a.new,
                "experiment_changed": combined.experiment_changed,
                "only_old": combined.only_old,
                "only_new": combined.only_new,
                "environment": combined.environment.iter().map(|(k, a, b)| serde_json::json!({"setting": k, "old": a, "new": b})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
    }
    let judged = judged(&analysis);
    let mut failing = match a.fail_on {
        FailOn::None => Vec::new(),
        FailOn::Slower => changed(&judged, true),
        FailOn::Different => changed(&judged, false),
    };
    // A gate must not pass on what it could not compare: NEW cells with no successful
    // trial, cells NEW lost, or nothing compared at all.
    if a.fail_on != FailOn::None {
        for c in analysis
            .cells
            .iter()
            .filter(|c| c.cell.variant == rigor::analyse::diff::NEW && c.ok == 0)
        {
            failing.push(format!(
                "{}: no successful trial in NEW ({} failed)",
                c.cell.key, c.failed
            ));
        }
        if !combined.only_old.is_empty() {
            failing.push(format!(
                "cells of OLD missing from NEW: {}",
                combined.only_old.join(", ")
            ));
        }
        // A comparison that could not be made (a baseline of 0, too few trials) while the
        // values differ is a gap, not a pass.
        for c in &judged {
            if let Some(why) = &c.result.error
                && (c.mean_variant != c.mean_baseline || c.n_variant < 2 || c.n_baseline < 2)
            {
                failing.push(format!(
                    "{}: not compared ({why}): OLD {} → NEW {}",
                    label(c),
                    rigor::analyse::words::fmt_num(c.mean_baseline),
                    rigor::analyse::words::fmt_num(c.mean_variant)
                ));
            }
        }
        // A count declared exact that changed means OLD and NEW did different work: exact
        // counts are not compared as metrics, so their warning is the gate's evidence.
        for w in analysis
            .warnings
            .iter()
            .filter(|w| w.kind == "exact-differs")
        {
            failing.push(w.message.clone());
        }
        if judged.is_empty() {
            failing.push("nothing could be compared (no cell of OLD matches one of NEW with successful trials on both sides)".into());
        }
    }
    if failing.is_empty() {
        return Ok(exit::code(exit::OK));
    }
    eprintln!(
        "rigor diff: {} significant change(s) or gap(s):",
        failing.len()
    );
    for v in &failing {
        eprintln!("  {v}");
    }
    Ok(exit::code(exit::FAILED))
}
