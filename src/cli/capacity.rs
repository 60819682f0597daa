//! `rigor capacity URL|FILE --objective …`: the highest request rate (or concurrency) at
//! which a server meets an objective, with a confidence interval (`rigor::run::capacity`;
//! the method and its coverage are in docs/llm-serving.md). Each trial is one load at the
//! level being tried: `serve-bench`'s, against a URL, or an experiment file's `llm-serve`
//! cell, run as its own probe (its variant's environment and container), per cell.

use super::exit;
use super::fields::CapacityFlags;
use anyhow::{Context, Result, bail};
use rigor::analyse::words::fmt_num;
use rigor::define::config::read_experiment;
use rigor::define::fields::Probe;
use rigor::define::objective::{Objective, Op};
use rigor::run::capacity::load::{self, LoadView};
use rigor::run::capacity::{self, Outcome, Phase, Settings, Trial};
use rigor::run::workload::llm;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
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
    after_help = "Exit status: 0 every search ran to its end (an end of the interval may still \
    be missing: the output says why); 1 a trial could not be run or judged (the server died, a \
    metric of the objective cannot be measured), a flag's value is out of range, or an interval's \
    ends contradicted each other; 2 a usage error; 130 interrupted (every finished trial is in \
    the journal)."
)]
pub struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8000 (or leave it out and give
    /// --server-command, to start a fresh server for every trial); or an experiment file,
    /// to search each of its `llm-serve` cells (each variant) with the load it defines.
    target: Option<String>,
    /// What every trial must meet: limits on its metrics, comma-separated, e.g.
    /// "ttft_ms.p99<=200,tpot_ms.p99<=50". Names are serve-bench's trial metrics without
    /// `llm.`; shares of requests are refused (use a percentile and --max-error-rate).
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
    /// Append each trial to this JSON Lines file as it finishes, before it is judged, so
    /// that nothing is lost if the search stops (default:
    /// rigor-results/capacity-<UTC time>.jsonl).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// With an experiment file: the `llm-serve` workload to search (needed when it has
    /// several).
    #[arg(long)]
    workload: Option<String>,
    /// With an experiment file: only these variants (repeatable; default: every one).
    #[arg(long)]
    variant: Vec<String>,
    /// Print the result, the curve and every trial as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fields: CapacityFlags,
}

/// What one search runs its trials on.
enum Target {
    /// serve-bench's load, in-process.
    Url(std::collections::BTreeMap<&'static str, String>),
    /// An experiment cell, each trial its probe invocation (built per trial, as the runner
    /// builds it: `{trial}` and a container's name differ between trials).
    Cell {
        exp: std::rc::Rc<rigor::define::config::Experiment>,
        cell: rigor::plan::Cell,
    },
}

/// The fields a trial sets itself, on a copy of the load's.
fn at_level(
    base: &std::collections::BTreeMap<&'static str, String>,
    level: f64,
    integer: bool,
    seed: u64,
) -> std::collections::BTreeMap<&'static str, String> {
    let mut fields = base.clone();
    if integer {
        fields.insert("rate", "0".into());
        fields.insert("concurrency", format!("{}", level as u64));
    } else {
        fields.insert("rate", format!("{level}"));
        // Unused by a rate load, but every field has a value.
        fields.insert("concurrency", "1".into());
    }
    fields.insert("seed", seed.to_string());
    fields
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let objective = Objective::parse(&a.objective).context("--objective")?;
    if !a.start.is_finite() || !a.max.is_finite() || a.start <= 0.0 || a.max < a.start {
        bail!("--start and --max must be finite, --start above 0 and at most --max");
    }
    if !(a.tolerance > 0.0 && a.tolerance < 1.0) {
        bail!("--tolerance must be between 0 and 1");
    }
    if !(0.5..1.0).contains(&a.confidence) {
        bail!("--confidence must be in [0.5, 1)");
    }
    let integer = a.over == Over::Concurrency;
    if integer && a.max < 1.0 {
        bail!("--max must be at least 1 client");
    }
    // A file is named as one; anything else is a URL.
    let file = a
        .target
        .as_deref()
        .filter(|t| t.ends_with(".toml") || Path::new(t).is_file())
        .map(Path::new);
    if let Some(f) = file
        && !f.is_file()
    {
        bail!("no experiment file {}", f.display());
    }
    if file.is_none() && (a.workload.is_some() || !a.variant.is_empty()) {
        bail!("--workload and --variant choose among an experiment file's cells: give a file");
    }
    let (targets, max_error_rate, seed) = match file {
        Some(path) => cell_targets(path, &a)?,
        None => {
            let mut base = a.fields.0.clone();
            if let Some(u) = &a.target {
                base.insert("url", u.clone());
            }
            // The load's fields, read as a trial reads them: a bad value fails now.
            let level = if integer {
                a.start.round().max(1.0)
            } else {
                a.start
            };
            let checked = llm::Options::from_fields(&at_level(&base, level, integer, 0))?;
            check_bound(&base["duration"], &base["grace"], "--duration")?;
            let seed: u64 = base["seed"]
                .parse()
                .with_context(|| format!("--seed `{}` is not a whole number", base["seed"]))?;
            (
                vec![Target::Url(base)],
                vec![checked.max_error_rate.unwrap_or(0.0)],
                seed,
            )
        }
    };
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
        seed,
    };
    let unit = if integer { "in flight" } else { "req/s" };
    let journal_path = a.journal.clone().unwrap_or_else(|| {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let stamp: String = now.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        PathBuf::from(format!("rigor-results/capacity-{stamp}.jsonl"))
    });
    if let Some(dir) = journal_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal_path)
        .with_context(|| format!("cannot open the journal {}", journal_path.display()))?;
    eprintln!("capacity: every trial goes to {}", journal_path.display());
    // The knee of a curve that rises with the load: the first upper limit's metric.
    let knee_of = objective
        .clauses
        .iter()
        .find(|c| c.op == Op::AtMost)
        .map(|c| c.metric.clone());
    // Ctrl-C (or SIGTERM, SIGHUP) stops the trial's processes, as `rigor run` does.
    let interrupt = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&interrupt))
            .context("cannot install the signal handler")?;
    }
    let mut n = 0usize;
    // Each search's label, and its outcome or why it stopped.
    let mut results = Vec::new();
    for (target, max_error_rate) in targets.iter().zip(max_error_rate) {
        if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let label = match target {
            Target::Url(_) => None,
            Target::Cell { cell, .. } => {
                eprintln!("capacity: cell {}", cell.key);
                Some(cell.key.clone())
            }
        };
        let mut behind: Vec<f64> = Vec::new();
        let searched = capacity::search(
            &settings,
            knee_of.as_deref(),
            |level, phase| -> Result<Trial> {
                if n > 0 {
                    std::thread::sleep(a.cooldown);
                }
                if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                    bail!("interrupted");
                }
                n += 1;
                // Each trial its own prompts and arrivals: replicates, not repeats of one draw
                // (and no prompt a server could answer from its cache for an earlier trial).
                let trial_seed = seed.wrapping_add(n as u64);
                let at = || format!("trial {n} at {} {unit}", fmt_num(level));
                let phase_name = match phase {
                    Phase::Bracket => "bracket",
                    Phase::Bisect => "bisect",
                    Phase::Verify => "verify",
                };
                let ran: Result<(Option<LoadView>, serde_json::Value)> = match target {
                    Target::Url(base) => {
                        llm::Options::from_fields(&at_level(base, level, integer, trial_seed))
                            .map_err(anyhow::Error::from)
                            .and_then(|opts| llm::run(&opts, None).map_err(anyhow::Error::from))
                            .map(|out| {
                                (
                                    Some(LoadView::of(&out)),
                                    serde_json::json!({ "summary": out.summary }),
                                )
                            })
                    }
                    Target::Cell { exp, cell } => rigor::plan::invocation::build(
                        exp, cell, n as u32,
                    )
                    .map_err(anyhow::Error::from)
                    .and_then(|inv| {
                        load::run_probe(&inv, level, integer, trial_seed, &interrupt)
                            .map_err(anyhow::Error::from)
                    })
                    .map(|p| {
                        let record = serde_json::json!({
                            "exit": p.exit, "stdout": p.stdout, "stderr_tail": p.stderr_tail,
                        });
                        (p.load.filter(|_| p.exited), record)
                    }),
                };
                let (view, record) = match ran {
                    Ok(r) => r,
                    Err(e) => {
                        // The trial that stopped the search is in the journal too.
                        let line = serde_json::json!({
                            "trial": n, "cell": label, "level": level, "phase": phase_name,
                            "seed": trial_seed, "error": format!("{e:#}"),
                        });
                        let _ = writeln!(journal, "{line}").and_then(|()| journal.flush());
                        return Err(e.context(at()));
                    }
                };
                let judged = match &view {
                    Some(v) => {
                        load::judge(&objective, v, max_error_rate).map_err(anyhow::Error::from)
                    }
                    None => Err(anyhow::anyhow!(
                        "the probe ran no load, or was stopped (its exit and last lines are in the journal)"
                    )),
                };
                let line = serde_json::json!({
                    "trial": n, "cell": label, "level": level,
                    "over": if integer { "concurrency" } else { "rate" },
                    "phase": phase_name, "seed": trial_seed,
                    "z": judged.as_ref().ok().map(|t| t.z),
                    "values": judged.as_ref().ok().map(|t| &t.values),
                    "error": judged.as_ref().err().map(|e| format!("{e:#}")),
                    "load": record,
                });
                writeln!(journal, "{line}")
                    .and_then(|()| journal.flush())
                    .context("writing the journal")?;
                let trial = judged.with_context(at)?;
                if !integer
                    && view
                        .as_ref()
                        .and_then(|v| v.value("llm.send_lag_ms.p99"))
                        .is_some_and(|lag| lag > llm::metrics::BEHIND_P99_MS)
                {
                    behind.push(level);
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
        );
        results.push((label, searched, behind));
    }
    let interrupted = interrupt.load(std::sync::atomic::Ordering::Relaxed);
    let status = if interrupted {
        exit::INTERRUPTED
    } else if results
        .iter()
        .any(|r| r.1.as_ref().map_or(true, |o| o.contradicts))
    {
        exit::FAILED
    } else {
        exit::OK
    };
    // Every search that stopped says why, after those that finished are shown.
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(label, r, _)| {
            r.as_ref().err().map(|e| match label {
                Some(l) => format!("{l}: {e:#}"),
                None => format!("{e:#}"),
            })
        })
        .collect();
    let finished: Vec<(&Option<String>, &Outcome, &Vec<f64>)> = results
        .iter()
        .filter_map(|(label, r, behind)| r.as_ref().ok().map(|o| (label, o, behind)))
        .collect();
    for f in &failures {
        eprintln!("error: {f}");
    }
    if !failures.is_empty() {
        eprintln!("the trials so far are in {}", journal_path.display());
    }
    if a.json {
        let searches: Vec<serde_json::Value> = finished
            .iter()
            .map(|(label, outcome, behind)| {
                serde_json::json!({ "cell": label, "client_behind_at": behind, "outcome": outcome })
            })
            .collect();
        let mut doc = serde_json::json!({
            "objective": objective,
            "over": if integer { "concurrency" } else { "rate" },
            "journal": journal_path,
        });
        if !failures.is_empty() {
            doc["errors"] = serde_json::json!(failures);
        }
        // One search (a URL) reads as before: its outcome at the top.
        match searches.as_slice() {
            [one] if file.is_none() => {
                doc["client_behind_at"] = one["client_behind_at"].clone();
                doc["outcome"] = one["outcome"].clone();
            }
            _ => doc["searches"] = serde_json::Value::Array(searches),
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(exit::code(status));
    }
    for (label, outcome, behind) in finished {
        if let Some(l) = label {
            println!("== {l}");
        }
        print_outcome(
            outcome,
            behind,
            &objective,
            knee_of.as_deref(),
            unit,
            &a,
            &journal_path,
        );
    }
    if interrupted {
        eprintln!(
            "interrupted: every finished trial is in {}",
            journal_path.display()
        );
    }
    Ok(exit::code(status))
}

/// A duration-bound load cancels the requests in flight at its end, and capacity counts
/// them as unserved: without a grace to let them finish, nearly every trial would break
/// the objective at any load.
fn check_bound(duration: &str, grace: &str, whose: &str) -> Result<()> {
    let set = |v: &str| {
        !v.is_empty() && v != "0" && humantime::parse_duration(v).map_or(true, |d| !d.is_zero())
    };
    if set(duration) && !set(grace) {
        bail!(
            "{whose}: a `duration`-bound load cancels the requests in flight at its end, which capacity counts as unserved: add a `grace` long enough for them to finish (e.g. 30s), or bound the load by `requests`"
        );
    }
    Ok(())
}

/// The searches an experiment file asks for: each variant's cells of its `llm-serve`
/// workload, each run as the probe invocation the runner would run, with the workload's
/// own error allowance; and the experiment's seed.
fn cell_targets(path: &Path, a: &Args) -> Result<(Vec<Target>, Vec<f64>, u64)> {
    // The load is the file's: a serve-bench flag here would be silently overridden.
    if let Some(k) = a.fields.1.first() {
        bail!(
            "--{}: with an experiment file the load is the workload's own; set `{k}` in the file",
            super::fields::kebab(k)
        );
    }
    let (exp, _) = read_experiment(path)?;
    let serving: Vec<&str> = exp
        .workloads
        .iter()
        .filter(|w| w.kind.probe() == Some(Probe::LlmServe))
        .map(|w| w.name.as_str())
        .collect();
    let workload = match (&a.workload, serving.as_slice()) {
        (Some(w), _) if serving.contains(&w.as_str()) => w.clone(),
        (Some(w), _) => bail!(
            "--workload {w}: no `llm-serve` workload of that name in {} (it has: {})",
            path.display(),
            serving.join(", ")
        ),
        (None, [one]) => one.to_string(),
        (None, []) => bail!("{} has no `llm-serve` workload", path.display()),
        (None, many) => bail!(
            "{} has several `llm-serve` workloads: name one with --workload ({})",
            path.display(),
            many.join(", ")
        ),
    };
    // A load set from a parameter (a sweep, or a variant's own) would be overwritten by
    // the search's level without a word: refused. The seed is capacity's to set too.
    if let Some(w) = exp.workloads.iter().find(|w| w.name == workload)
        && let rigor::define::config::CommandTemplate::Argv(words) =
            &rigor::plan::invocation::command_of(w).command
    {
        for flag in ["--rate", "--concurrency", "--seed"] {
            if let Some(v) = load::flag_value(words, flag)
                && v.contains('{')
                && !(flag == "--seed" && v == "{trial}")
            {
                bail!(
                    "workload `{workload}` sets `{}` from a parameter ({v}): capacity searches the load and draws each trial's seed itself; set it to a constant or leave it out",
                    &flag[2..]
                );
            }
        }
    }
    for v in &a.variant {
        if exp.variant(v).is_none() {
            bail!("--variant {v}: no such variant in {}", path.display());
        }
    }
    let cells = rigor::plan::cells(&exp);
    let shared = std::rc::Rc::new(exp);
    let exp = &*shared;
    let mut targets = Vec::new();
    let mut allowances = Vec::new();
    for cell in cells.into_iter().filter(|c| {
        c.workload == workload && (a.variant.is_empty() || a.variant.contains(&c.variant))
    }) {
        let invocation = rigor::plan::invocation::build(exp, &cell, 0)
            .with_context(|| format!("cell {}", cell.key))?;
        let flag = |name: &str| load::flag_value(&invocation.argv, name).unwrap_or("");
        check_bound(
            flag("--duration"),
            flag("--grace"),
            &format!("cell {}", cell.key),
        )?;
        let allowance = Some(flag("--max_error_rate"))
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<f64>())
            .transpose()
            .with_context(|| format!("cell {}: max_error_rate", cell.key))?
            .unwrap_or(0.0);
        allowances.push(allowance);
        targets.push(Target::Cell {
            exp: shared.clone(),
            cell,
        });
    }
    Ok((targets, allowances, exp.seed))
}

/// One search's result, as text.
fn print_outcome(
    outcome: &Outcome,
    behind: &[f64],
    objective: &Objective,
    knee_of: Option<&str>,
    unit: &str,
    a: &Args,
    journal: &Path,
) {
    let level = |x: f64| format!("{} {unit}", fmt_num(x));
    let end = |b: Option<rigor::stats::capacity::Bound>| {
        b.map_or("—".to_string(), |b| fmt_num(b.level))
    };
    let conf = (a.confidence * 100.0).round();
    let interval = if outcome.contradicts {
        "no interval (its ends contradict each other)".to_string()
    } else {
        format!(
            "[{}, {}] at {conf}% confidence",
            end(outcome.lower),
            end(outcome.upper)
        )
    };
    match (&outcome.estimate, &outcome.estimate_missing) {
        _ if outcome.contradicts => println!("capacity under {objective}: {interval}"),
        (Some(e), _) => println!("capacity under {objective}: {} {interval}", level(*e)),
        (None, why) => println!(
            "capacity under {objective}: no estimate ({}); {interval}",
            why.as_deref().unwrap_or("none")
        ),
    }
    if outcome.contradicts {
        // No estimate or end stands when the ends contradict each other; the note says why.
    } else if let Some(b) = outcome.lower {
        println!(
            "  the objective was shown to hold at {} ({})",
            level(b.level),
            rigor::stats::compare::p_eq("p", b.p)
        );
    }
    if let (false, Some(b)) = (outcome.contradicts, outcome.upper) {
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
        "  {} trials: {} to bracket, {} to bisect, {} to verify ({verified} levels × {}, in random order); each in {}",
        outcome.trials.len(),
        count(Phase::Bracket),
        count(Phase::Bisect),
        count(Phase::Verify),
        a.trials,
        journal.display()
    );
    if let (Some(k), Some(m)) = (outcome.knee, knee_of) {
        println!("  knee of {m} against the load (Kneedle): {}", level(k));
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec![unit.to_string(), "trials".into(), "served req/s".into()];
    header.extend(
        objective
            .clauses
            .iter()
            .map(|c| format!("{} (mean [{conf}% CI])", c.metric)),
    );
    header.push("verified".into());
    t.set_header(header);
    let alpha = (1.0 - a.confidence) / 2.0;
    let cell = |p: &capacity::Point, name: &str| match p.values.get(name) {
        None => "not measured".to_string(),
        Some(v) => {
            let mut out = fmt_num(v.mean);
            if let Some([lo, hi]) = v.ci {
                out += &format!(" [{}, {}]", fmt_num(lo), fmt_num(hi));
            }
            if v.n < p.trials {
                out += &format!(" ({} of {} trials)", v.n, p.trials);
            }
            out
        }
    };
    for p in &outcome.curve {
        let mut row = vec![fmt_num(p.level), p.trials.to_string(), cell(p, "req_s")];
        for c in &objective.clauses {
            row.push(cell(p, &c.metric));
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
    println!(
        "(means over the trials that measured the value: geometric, or arithmetic where a value was 0)"
    );
    for note in &outcome.notes {
        println!("note: {note}");
    }
    if !behind.is_empty() {
        let mut b = behind.to_vec();
        b.sort_by(f64::total_cmp);
        b.dedup();
        println!(
            "warning: the client fell behind its schedule at {} {unit}: the server saw a lighter load than asked for there; give the client more CPUs",
            b.iter().map(|x| fmt_num(*x)).collect::<Vec<_>>().join(", ")
        );
    }
}
