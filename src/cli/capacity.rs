//! `rigor capacity URL --objective …`: the highest request rate (or concurrency) at which
//! a server meets an objective, with a confidence interval (`rigor::run::capacity`; the
//! method and its coverage are in docs/llm-serving.md). Each trial is one `serve-bench`
//! load at the level being tried.

use super::exit;
use super::fields::CapacityFlags;
use anyhow::{Context, Result, bail};
use rigor::analyse::words::fmt_num;
use rigor::define::objective::{CAP, Objective};
use rigor::run::capacity::{self, Phase, Settings, Trial};
use rigor::run::workload::llm;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Over {
    /// Requests per second (an open-loop load).
    Rate,
    /// Requests in flight (a closed-loop load).
    Concurrency,
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 the search ran to its end (an end of the interval may still \
    be missing: the output says why); 1 a trial could not be run (the server died, a metric of the \
    objective cannot be measured); 2 a usage error."
)]
pub struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8000; or leave it out and give
    /// --server-command, to start a fresh server for every trial.
    url: Option<String>,
    /// What every trial must meet: limits on its metrics, comma-separated, e.g.
    /// "ttft_ms.p99<=200,tpot_ms.p99<=50", or "goodput_fraction>=0.99" with --slo for the
    /// per-request limits. Names are serve-bench's trial metrics without `llm.`.
    #[arg(long)]
    objective: String,
    /// The load to search over.
    #[arg(long, value_enum, default_value = "rate")]
    over: Over,
    /// The first level tried.
    #[arg(long, default_value_t = 1.0)]
    start: f64,
    /// The highest level tried.
    #[arg(long, default_value_t = 1000.0)]
    max: f64,
    /// Trials at each of the five verified levels (at least 2).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..))]
    trials: u32,
    /// Trials at each level while searching.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    search_trials: u32,
    /// Bisection stops when the bracket is narrower than this fraction of its top.
    #[arg(long, default_value_t = 0.1)]
    tolerance: f64,
    /// Confidence of the interval.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Pause between trials, for the server to drain what the last one left queued.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    cooldown: Duration,
    /// Append each trial to this JSON Lines file as it finishes (nothing is lost if the
    /// search is stopped).
    #[arg(long)]
    journal: Option<std::path::PathBuf>,
    /// Print the result, the curve and every trial as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fields: CapacityFlags,
}

/// One trial's `z` and values, from its load's summary. A trial that served nothing (or
/// failed more requests than `max_error_rate` allows, or left requests unanswered) broke
/// the objective: it counts as [`CAP`] times over. A metric the load cannot measure at
/// all is an error: no level would ever have it.
fn judge(objective: &Objective, out: &llm::Outcome, max_error_rate: f64) -> Result<Trial> {
    let s = &out.summary;
    let (metrics, missing) = llm::trial_metrics(s);
    let mut values = BTreeMap::new();
    let z = objective.z(|name| {
        if let Some(m) = metrics.iter().find(|m| m.0 == name) {
            values.insert(name.trim_start_matches("llm.").to_string(), m.1);
            return Ok(Some(m.1));
        }
        // `llm.ttft_ms.p99` is missing as `llm.ttft_ms`.
        let why = missing
            .iter()
            .find(|m| name == m.0 || name.starts_with(&format!("{}.", m.0)))
            .map(|m| m.1.clone());
        match why {
            Some(_) if s.ok == 0 => Ok(None),
            Some(why) => Err(format!("{}: not measured: {why}", &name[4..]).into()),
            None => {
                let mut names: Vec<&str> = metrics
                    .iter()
                    .map(|m| m.0.trim_start_matches("llm."))
                    .collect();
                names.sort();
                Err(format!(
                    "`{}` is not a metric of this load; it has {}",
                    &name[4..],
                    names.join(", ")
                )
                .into())
            }
        }
    })?;
    // Requests that failed, or were still unanswered when the load ended, were not served
    // within any objective.
    let broken = s.failed + s.cancelled;
    let share = if s.requests == 0 {
        1.0
    } else {
        broken as f64 / s.requests as f64
    };
    let z = if share > max_error_rate { CAP.ln() } else { z };
    if s.ok > 0 {
        values.insert("req_s".into(), s.req_s);
    }
    values.insert("unserved_fraction".into(), share);
    Ok(Trial { z, values })
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let objective = Objective::parse(&a.objective).context("--objective")?;
    if a.start <= 0.0 || a.start.is_nan() || a.max < a.start {
        bail!("--start must be above 0 and at most --max");
    }
    if !(0.5..1.0).contains(&a.confidence) {
        bail!("--confidence must be in [0.5, 1)");
    }
    let mut base = a.fields.0;
    if let Some(u) = &a.url {
        base.insert("url", u.clone());
    }
    let max_error_rate: f64 = base
        .get("max_error_rate")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let integer = a.over == Over::Concurrency;
    let settings = Settings {
        start: if integer {
            a.start.round().max(1.0)
        } else {
            a.start
        },
        max: a.max,
        integer,
        search_trials: a.search_trials as usize,
        trials: a.trials as usize,
        tolerance: a.tolerance,
        confidence: a.confidence,
        seed: base.get("seed").and_then(|v| v.parse().ok()).unwrap_or(0),
    };
    let unit = if integer { "in flight" } else { "req/s" };
    let mut journal = match &a.journal {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open the journal {}", p.display()))?,
        ),
        None => None,
    };
    let mut n = 0usize;
    let mut behind: Vec<f64> = Vec::new();
    let first_metric = objective.clauses[0].metric.clone();
    let outcome = capacity::search(
        &settings,
        Some(&first_metric),
        |level, phase| -> Result<Trial> {
            if n > 0 {
                std::thread::sleep(a.cooldown);
            }
            n += 1;
            let mut fields = base.clone();
            if integer {
                fields.insert("rate", "0".into());
                fields.insert("concurrency", format!("{}", level as u64));
            } else {
                fields.insert("rate", format!("{level}"));
            }
            let at = || format!("trial {n} at {} {unit}", fmt_num(level));
            let opts = llm::Options::from_fields(&fields)?;
            let out = llm::run(&opts, None).with_context(at)?;
            let trial = judge(&objective, &out, max_error_rate).with_context(at)?;
            if let Some(lag) = &out.summary.send_lag_ms
                && lag.p99 > llm::metrics::BEHIND_P99_MS
                && !integer
            {
                behind.push(level);
            }
            let phase_name = match phase {
                Phase::Bracket => "bracket",
                Phase::Bisect => "bisect",
                Phase::Verify => "verify",
            };
            if let Some(j) = journal.as_mut() {
                let line = serde_json::json!({
                    "level": level, "over": if integer { "concurrency" } else { "rate" },
                    "phase": phase_name, "z": trial.z, "values": trial.values,
                    "summary": out.summary,
                });
                writeln!(j, "{line}")
                    .and_then(|()| j.flush())
                    .context("writing the journal")?;
            }
            let shown: Vec<String> = objective
                .clauses
                .iter()
                .map(|c| {
                    let v = trial
                        .values
                        .get(&c.metric)
                        .map_or("not measured".into(), |v| fmt_num(*v));
                    format!("{} {v}", c.metric)
                })
                .collect();
            eprintln!(
                "trial {n} ({phase_name}) at {} {unit}: {} → {}",
                fmt_num(level),
                shown.join(", "),
                if trial.z <= 0.0 { "met" } else { "missed" }
            );
            Ok(trial)
        },
    )?;

    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "objective": objective,
                "over": if integer { "concurrency" } else { "rate" },
                "client_behind_at": behind,
                "outcome": outcome,
            }))?
        );
        return Ok(exit::code(exit::OK));
    }
    let level = |x: f64| format!("{} {unit}", fmt_num(x));
    let end = |b: Option<rigor::stats::capacity::Bound>| {
        b.map_or("—".to_string(), |b| fmt_num(b.level))
    };
    let conf = (a.confidence * 100.0).round();
    match (&outcome.estimate, &outcome.estimate_missing) {
        (Some(e), _) => println!(
            "capacity under {objective}: {} [{}, {}] at {conf}% confidence",
            level(*e),
            end(outcome.lower),
            end(outcome.upper)
        ),
        (None, why) => println!(
            "capacity under {objective}: no estimate ({}); interval [{}, {}] at {conf}% confidence",
            why.as_deref().unwrap_or("none"),
            end(outcome.lower),
            end(outcome.upper)
        ),
    }
    if let Some(b) = outcome.lower {
        println!(
            "  the objective was shown to hold at {} ({})",
            level(b.level),
            rigor::stats::compare::p_eq("p", b.p)
        );
    }
    if let Some(b) = outcome.upper {
        println!(
            "  the objective was shown to fail at {} ({})",
            level(b.level),
            rigor::stats::compare::p_eq("p", b.p)
        );
    }
    let count = |p: Phase| outcome.trials.iter().filter(|m| m.phase == p).count();
    let verified = outcome
        .curve
        .iter()
        .filter(|p| p.verified.is_some())
        .count();
    println!(
        "  {} trials: {} to bracket, {} to bisect, {} to verify ({verified} levels × {}, in random order)",
        outcome.trials.len(),
        count(Phase::Bracket),
        count(Phase::Bisect),
        count(Phase::Verify),
        a.trials
    );
    if let Some(k) = outcome.knee {
        println!(
            "  knee of {first_metric} against the load (Kneedle): {}",
            level(k)
        );
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec![unit.to_string(), "trials".into(), "served req/s".into()];
    header.extend(
        objective
            .clauses
            .iter()
            .map(|c| format!("{} (geo. mean [{conf}% CI])", c.metric)),
    );
    header.push("verified".into());
    t.set_header(header);
    let alpha = (1.0 - a.confidence) / 2.0;
    for p in &outcome.curve {
        let mut row = vec![fmt_num(p.level), p.trials.to_string()];
        row.push(p.values.get("req_s").map_or("—".into(), |v| fmt_num(v.0)));
        for c in &objective.clauses {
            row.push(match p.values.get(&c.metric) {
                Some((g, Some([lo, hi]))) => {
                    format!("{} [{}, {}]", fmt_num(*g), fmt_num(*lo), fmt_num(*hi))
                }
                Some((g, None)) => fmt_num(*g),
                None => "not measured".into(),
            });
        }
        row.push(match &p.verified {
            Some(v) if v.p_holds <= alpha => "holds".into(),
            Some(v) if v.p_fails <= alpha => "fails".into(),
            Some(_) => "undecided".into(),
            None => String::new(),
        });
        t.add_row(row);
    }
    println!("{t}");
    for note in &outcome.notes {
        println!("note: {note}");
    }
    if !behind.is_empty() {
        let mut b = behind.clone();
        b.sort_by(f64::total_cmp);
        b.dedup();
        println!(
            "warning: the client fell behind its schedule at {} {unit}: the server saw a lighter load than asked for there; give the client more CPUs",
            b.iter().map(|x| fmt_num(*x)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(exit::code(exit::OK))
}
