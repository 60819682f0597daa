//! Results measured by other tools, brought into a store so that rigor's statistics,
//! verdicts and reports apply to them (`rigor import`). Each imported run says which tool
//! measured it and how; the report then states which of rigor's guarantees do not hold
//! (the order was the tool's, nothing was sampled, the measuring machine is not recorded).
//! Files are read and checked before anything is written.
//!
//! - hyperfine (`--export-json`): each command is a variant, each of its runs a trial with
//!   `time` (s), the baseline the first command; a run with a non-zero exit code is a
//!   failed trial (hyperfine keeps them only with `--ignore-failure`).
//! - AIPerf (`profile_export_aiperf.json`): each file is one trial, of the cell its
//!   configuration names (endpoint, streaming, concurrency or rate, input and output
//!   lengths), in the variant given as `NAME=FILE` (else `aiperf`); its own statistics
//!   become `llm.*` metrics under rigor's definitions' names (AIPerf's "inter-token
//!   latency" is rigor's TPOT, its "inter-chunk latency" rigor's ITL).
//! - pytest-benchmark (`--benchmark-json` with `--benchmark-save-data`): each benchmark
//!   function a variant (its name before `[`), its parameters the sweep, its group the
//!   workload, each round a trial with `time` (s per iteration, as pytest-benchmark keeps it).
//! - vLLM (`vllm bench serve --save-result`): each file is one trial, of the cell its
//!   configuration names (model, backend, max concurrency, prompts, request rate, burstiness), in the
//!   variant given as `NAME=FILE` (else its `label`, else `vllm`); its statistics become
//!   `llm.*` metrics (vLLM's TTFT, TPOT and ITL are rigor's, its E2E `e2el`), its failed
//!   requests `llm.error_rate` and `llm.failed`.

use crate::define::config::{Better, ParamValue};
use crate::plan::{Cell, Phase, TrialKey};
use crate::store::{AttemptRecord, NewRun, NewSession, Store, StoreError};
use crate::trial::{MetricValue, TrialStatus};
use std::collections::BTreeMap;

/// Why a file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: not {tool}: {why}")]
    Format {
        file: String,
        tool: &'static str,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One trial to write: its cell, status, metrics.
struct Trial {
    cell: usize,
    ok: Result<(), String>,
    exit_code: Option<i32>,
    wall_s: Option<f64>,
    argv: Vec<String>,
    metrics: Vec<(String, MetricValue)>,
}

/// Read and checked, ready to write.
pub struct Parsed {
    tool: &'static str,
    what: &'static str,
    order: &'static str,
    cells: Vec<Cell>,
    descriptions: Vec<(String, String)>,
    trials: Vec<Trial>,
    details: serde_json::Value,
}

/// What an import made: the run, its variants (name, what it is) and how many trials.
pub struct Imported {
    pub run_id: i64,
    pub variants: Vec<(String, String)>,
    pub trials: usize,
}

fn metric(value: f64, unit: &str, better: Better) -> MetricValue {
    MetricValue {
        value,
        unit: Some(unit.into()),
        better: Some(better),
        samples: Vec::new(),
    }
}

/// A variant name from a command: its words joined by `-`, letters, digits, `-`, `_`, `.`
/// only, at most 56 characters, made unique.
fn variant_name(command: &str, taken: &[String]) -> String {
    let mut base: String = command
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|w| !w.chars().all(|c| c == '.'))
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .take(56)
        .collect();
    if base.is_empty() {
        base = "command".into();
    }
    let mut name = base.clone();
    let mut i = 2;
    while taken.contains(&name) {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

fn cell(variant: &str, workload: &str, sweep: BTreeMap<String, ParamValue>) -> Cell {
    Cell {
        // As the planner keys its cells.
        key: format!("{variant}/{workload}{}", crate::plan::fmt_params(&sweep)),
        variant: variant.into(),
        workload: workload.into(),
        params: sweep.clone(),
        sweep,
    }
}

#[derive(serde::Deserialize)]
struct HyperfineFile {
    results: Vec<HyperfineResult>,
}

#[derive(serde::Deserialize)]
struct HyperfineResult {
    command: String,
    times: Vec<f64>,
    #[serde(default)]
    exit_codes: Vec<Option<i32>>,
    #[serde(default)]
    parameters: BTreeMap<String, serde_json::Value>,
}

/// hyperfine's JSON (`text`, from `file`).
pub fn read_hyperfine(file: &str, text: &str) -> Result<Parsed, ImportError> {
    let bad = |why: String| ImportError::Format {
        file: file.to_string(),
        tool: "hyperfine's --export-json output",
        why,
    };
    let parsed: HyperfineFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if parsed.results.is_empty() {
        return Err(bad("it holds no result".into()));
    }
    let mut descriptions: Vec<(String, String)> = Vec::new();
    for r in &parsed.results {
        let taken: Vec<String> = descriptions.iter().map(|v| v.0.clone()).collect();
        descriptions.push((variant_name(&r.command, &taken), r.command.clone()));
    }
    let cells: Vec<Cell> = descriptions
        .iter()
        .map(|(v, _)| cell(v, "hyperfine", BTreeMap::new()))
        .collect();
    let mut trials = Vec::new();
    for (c, r) in parsed.results.iter().enumerate() {
        for (i, &t) in r.times.iter().enumerate() {
            let code = r.exit_codes.get(i).copied().flatten();
            let ok = match code {
                Some(c) if c != 0 => Err(format!("exit status {c} (hyperfine --ignore-failure)")),
                _ if !(t.is_finite() && t >= 0.0) => {
                    Err(format!("hyperfine recorded an unusable time: {t}"))
                }
                // hyperfine clamps a run at 0 when its shell-spawning correction exceeds it:
                // a floor, not a measured time.
                _ if t == 0.0 => Err(
                    "hyperfine recorded 0 s (its correction for the shell's start-up exceeded the run, and it clamps at 0): not a measurement".into(),
                ),
                _ => Ok(()),
            };
            trials.push(Trial {
                cell: c,
                exit_code: code,
                wall_s: ok.is_ok().then_some(t),
                metrics: if ok.is_ok() {
                    vec![("time".into(), metric(t, "s", Better::Lower))]
                } else {
                    Vec::new()
                },
                ok,
                argv: vec![r.command.clone()],
            });
        }
    }
    Ok(Parsed {
        tool: "hyperfine",
        what: "wall-clock time of each run of each command, as hyperfine measured it (its shell-spawning correction applied unless -N)",
        // hyperfine runs every run of one command, then the next command's.
        order: "sequential",
        cells,
        descriptions,
        trials,
        details: serde_json::json!({
            "parameters": parsed.results.iter().map(|r| &r.parameters).collect::<Vec<_>>(),
        }),
    })
}

/// AIPerf's statistics of one distribution: `(avg, p50, p90, p95, p99, max)`.
/// Each `(theirs, ours, unit, better)` whose value `get` finds becomes a metric.
fn totals(
    metrics: &mut Vec<(String, MetricValue)>,
    get: impl Fn(&str) -> Option<f64>,
    table: &[(&str, &str, &str, Better)],
) {
    for &(theirs, ours, unit, better) in table {
        if let Some(v) = get(theirs) {
            metrics.push((ours.into(), metric(v, unit, better)));
        }
    }
}

fn aiperf_dist(d: &serde_json::Value, key: &str) -> Option<[Option<f64>; 6]> {
    let m = d.get(key)?;
    let g = |k: &str| m.get(k).and_then(|v| v.as_f64()).filter(|v| v.is_finite());
    Some([g("avg"), g("p50"), g("p90"), g("p95"), g("p99"), g("max")])
}

/// AIPerf's `profile_export_aiperf.json` files, each `(variant, file, text)`.
pub fn read_aiperf(files: &[(String, String, String)]) -> Result<Parsed, ImportError> {
    let mut cells: Vec<Cell> = Vec::new();
    let mut descriptions: Vec<(String, String)> = Vec::new();
    let mut trials = Vec::new();
    let mut versions = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (variant, file, text) in files {
        let bad = |why: String| ImportError::Format {
            file: file.clone(),
            tool: "AIPerf's profile_export_aiperf.json",
            why,
        };
        let d: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if d["request_throughput"]["avg"].as_f64().is_none() || !d["input_config"].is_object() {
            return Err(bad(
                "it has no `request_throughput.avg` number or no `input_config` table".into(),
            ));
        }
        // The units this import converts from: anything else is refused, not misread.
        for (key, unit) in [
            ("time_to_first_token", "ms"),
            ("inter_chunk_latency", "ms"),
            ("inter_token_latency", "ms"),
            ("request_latency", "ms"),
            ("request_throughput", "requests/sec"),
            ("output_token_throughput", "tokens/sec"),
            ("total_token_throughput", "tokens/sec"),
            ("benchmark_duration", "sec"),
            ("request_error_rate", "%"),
        ] {
            if let Some(u) = d[key]["unit"].as_str()
                && u != unit
            {
                return Err(bad(format!("`{key}` is in {u}, where {unit} was expected")));
            }
        }
        if let Some(id) = d["benchmark_id"].as_str() {
            if seen.iter().any(|s| s == id) {
                return Err(bad(format!(
                    "benchmark {id} was given twice: the same run would count as two trials"
                )));
            }
            seen.push(id.to_string());
        }
        versions.push(d["aiperf_version"].as_str().unwrap_or("?").to_string());
        let cfg = &d["input_config"];
        let mut sweep = BTreeMap::new();
        if let Some(e) = cfg["endpoint"]["type"].as_str() {
            sweep.insert("endpoint".into(), ParamValue::Str(e.into()));
        }
        if let Some(s) = cfg["endpoint"]["streaming"].as_bool() {
            sweep.insert("streaming".into(), ParamValue::Bool(s));
        }
        let phase = cfg["phases"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["kind"] == "profiling"));
        for key in ["concurrency", "request_rate", "rate"] {
            if let Some(v) = phase.and_then(|p| p.get(key)) {
                let value = match (v.as_i64(), v.as_f64()) {
                    (Some(i), _) => ParamValue::Int(i),
                    (None, Some(f)) => ParamValue::Float(f),
                    _ => continue,
                };
                sweep.insert(key.into(), value);
            }
        }
        if !sweep.contains_key("concurrency")
            && !sweep.contains_key("request_rate")
            && !sweep.contains_key("rate")
        {
            return Err(bad(
                "its profiling phase names no concurrency or request rate, so its cell cannot be told from another load's".into(),
            ));
        }
        let lens = &cfg["datasets"][0]["prompts"];
        for (name, v) in [("isl", &lens["isl"]["mean"]), ("osl", &lens["osl"]["mean"])] {
            if let Some(f) = v.as_f64() {
                sweep.insert(name.into(), ParamValue::Float(f));
            }
        }
        let c = cell(variant, "serve", sweep);
        let index = match cells.iter().position(|x| x.key == c.key) {
            Some(i) => i,
            None => {
                cells.push(c);
                if !descriptions.iter().any(|(v, _)| v == variant) {
                    descriptions.push((variant.clone(), format!("AIPerf results ({file}…)")));
                }
                cells.len() - 1
            }
        };
        let avg = |k: &str| d[k]["avg"].as_f64().filter(|v| v.is_finite());
        let mut metrics = Vec::new();
        for (theirs, ours) in [
            ("time_to_first_token", "ttft_ms"),
            ("inter_chunk_latency", "itl_ms"),
            ("inter_token_latency", "tpot_ms"),
            ("request_latency", "e2e_ms"),
        ] {
            if let Some(stats) = aiperf_dist(&d, theirs) {
                for (stat, v) in ["mean", "median", "p90", "p95", "p99", "max"]
                    .iter()
                    .zip(stats)
                {
                    if let Some(v) = v {
                        metrics
                            .push((format!("llm.{ours}.{stat}"), metric(v, "ms", Better::Lower)));
                    }
                }
            }
        }
        totals(
            &mut metrics,
            avg,
            &[
                ("request_throughput", "llm.req_s", "req/s", Better::Higher),
                (
                    "output_token_throughput",
                    "llm.output_tok_s",
                    "tok/s",
                    Better::Higher,
                ),
                (
                    "total_token_throughput",
                    "llm.total_tok_s",
                    "tok/s",
                    Better::Higher,
                ),
                ("benchmark_duration", "llm.duration_s", "s", Better::Lower),
            ],
        );
        if let Some(pct) = avg("request_error_rate") {
            metrics.push((
                "llm.error_rate".into(),
                metric(pct / 100.0, "fraction", Better::Lower),
            ));
        }
        let errors: u64 = d["error_summary"]
            .as_array()
            .map(|e| e.iter().map(|x| x["count"].as_u64().unwrap_or(1)).sum())
            .unwrap_or(0);
        let ok = if d["was_cancelled"].as_bool() == Some(true) {
            Err("AIPerf's run was cancelled".to_string())
        } else if d["is_complete"].as_bool() == Some(false) {
            Err("AIPerf's run did not complete".to_string())
        } else if avg("request_throughput").is_none_or(|r| r <= 0.0) {
            Err(format!(
                "no request succeeded ({errors} error(s) in AIPerf's summary)"
            ))
        } else {
            Ok(())
        };
        trials.push(Trial {
            cell: index,
            exit_code: None,
            wall_s: avg("benchmark_duration"),
            argv: vec![file.clone()],
            metrics: if ok.is_ok() { metrics } else { Vec::new() },
            ok,
        });
    }
    if trials.is_empty() {
        return Err(ImportError::Format {
            file: "(none)".into(),
            tool: "AIPerf's profile_export_aiperf.json",
            why: "no file given".into(),
        });
    }
    Ok(Parsed {
        tool: "AIPerf",
        what: "AIPerf's own per-run statistics (avg, p50–p99, max of its per-request values), one file per trial; its inter-token latency is stored as llm.tpot_ms, its inter-chunk latency as llm.itl_ms",
        // Each file is a separate AIPerf run, in the order the user ran them.
        order: "sequential",
        cells,
        descriptions,
        trials,
        details: serde_json::json!({ "aiperf_versions": versions }),
    })
}

fn param_value(v: &serde_json::Value) -> ParamValue {
    match v {
        serde_json::Value::Bool(b) => ParamValue::Bool(*b),
        serde_json::Value::String(s) => ParamValue::Str(s.clone()),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => ParamValue::Int(i),
            (None, Some(f)) => ParamValue::Float(f),
            _ => ParamValue::Str(n.to_string()),
        },
        other => ParamValue::Str(other.to_string()),
    }
}

/// pytest-benchmark's `--benchmark-json` (`text`, from `file`), saved with
/// `--benchmark-save-data` so that every round is there.
pub fn read_pytest_benchmark(file: &str, text: &str) -> Result<Parsed, ImportError> {
    let bad = |why: String| ImportError::Format {
        file: file.to_string(),
        tool: "pytest-benchmark's --benchmark-json output",
        why,
    };
    let d: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let Some(benches) = d["benchmarks"].as_array().filter(|b| !b.is_empty()) else {
        return Err(bad("it holds no `benchmarks`".into()));
    };
    let mut cells: Vec<Cell> = Vec::new();
    let mut descriptions: Vec<(String, String)> = Vec::new();
    let mut trials = Vec::new();
    for b in benches {
        let name = b["name"].as_str().unwrap_or_default();
        let stats = &b["stats"];
        let Some(data) = stats["data"].as_array() else {
            return Err(bad(format!(
                "benchmark `{name}` has no per-round data: run pytest with --benchmark-save-data, so that each round can be a trial"
            )));
        };
        let variant = name.split('[').next().unwrap_or(name).to_string();
        if variant.is_empty() {
            return Err(bad("a benchmark has no name".into()));
        }
        let workload = b["group"]
            .as_str()
            .unwrap_or("pytest-benchmark")
            .to_string();
        let sweep: BTreeMap<String, ParamValue> = b["params"]
            .as_object()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), param_value(v))).collect())
            .unwrap_or_default();
        let c = cell(&variant, &workload, sweep);
        if cells.iter().any(|x| x.key == c.key) {
            return Err(bad(format!(
                "two benchmarks make the cell {}: its rounds would be pooled",
                c.key
            )));
        }
        if !descriptions.iter().any(|(v, _)| *v == variant) {
            let full = b["fullname"].as_str().unwrap_or(name);
            descriptions.push((
                variant.clone(),
                full.split('[').next().unwrap_or(full).to_string(),
            ));
        }
        cells.push(c);
        let index = cells.len() - 1;
        let iterations = stats["iterations"].as_u64().unwrap_or(1);
        for v in data {
            let t = v.as_f64();
            let ok = match t {
                Some(t) if t.is_finite() && t > 0.0 => Ok(()),
                _ => Err(format!("pytest-benchmark recorded an unusable time: {v}")),
            };
            trials.push(Trial {
                cell: index,
                exit_code: None,
                wall_s: t.filter(|_| ok.is_ok()).map(|t| t * iterations as f64),
                argv: vec![name.to_string()],
                metrics: match (&ok, t) {
                    (Ok(()), Some(t)) => vec![("time".into(), metric(t, "s", Better::Lower))],
                    _ => Vec::new(),
                },
                ok,
            });
        }
    }
    Ok(Parsed {
        tool: "pytest-benchmark",
        what: "each round's time per iteration, as pytest-benchmark measured it (its timer, calibration, iterations and GC setting are in the file's options)",
        // pytest-benchmark runs all rounds of one benchmark, then the next one's.
        order: "sequential",
        cells,
        descriptions,
        trials,
        details: serde_json::json!({
            "version": d["version"],
            "machine_info": d["machine_info"],
            "options": benches.iter().map(|b| &b["options"]).collect::<Vec<_>>(),
            "iterations": benches.iter().map(|b| &b["stats"]["iterations"]).collect::<Vec<_>>(),
        }),
    })
}

/// vLLM's `bench serve --save-result` files, each `(variant, file, text)`; an empty variant
/// takes the file's `label`, else `vllm`.
pub fn read_vllm(files: &[(String, String, String)]) -> Result<Parsed, ImportError> {
    const TOOL: &str = "a result of vLLM's bench serve (--save-result)";
    let mut cells: Vec<Cell> = Vec::new();
    let mut descriptions: Vec<(String, String)> = Vec::new();
    let mut trials = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (variant, file, text) in files {
        let bad = |why: String| ImportError::Format {
            file: file.clone(),
            tool: TOOL,
            why,
        };
        let d: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let num = |k: &str| d.get(k).and_then(|v| v.as_f64()).filter(|v| v.is_finite());
        let (Some(completed), Some(duration)) = (d["completed"].as_u64(), num("duration")) else {
            return Err(bad("it has no `completed` count or no `duration`".into()));
        };
        if num("request_throughput").is_none() || d.get("max_concurrency").is_none() {
            return Err(bad(
                "it has no `request_throughput` or no `max_concurrency` (null or a number)".into(),
            ));
        }
        let failed = d["failed"].as_u64().unwrap_or(0);
        // One run given twice would count as two trials: vLLM stamps each with its start
        // (to the second) and its measured duration.
        let id = (
            d["date"].as_str().unwrap_or("").to_string(),
            format!("{duration}"),
        );
        if seen.contains(&id) {
            return Err(bad(format!(
                "the run of {} ({} s) was given twice: it would count as two trials",
                id.0, id.1
            )));
        }
        seen.push(id);
        // A label is the user's name for the setup: made usable (`tp 2` → `tp-2`), never
        // dropped, so that differently labelled runs are never pooled.
        let variant = if !variant.is_empty() {
            variant.clone()
        } else {
            match d["label"].as_str().map(|l| {
                l.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect::<String>()
            }) {
                Some(l) if !l.trim_matches('-').is_empty() => l,
                _ => "vllm".to_string(),
            }
        };
        let mut sweep = BTreeMap::new();
        for key in ["model_id", "endpoint_type"] {
            if let Some(v) = d[key].as_str() {
                sweep.insert(
                    key.trim_end_matches("_id").trim_end_matches("_type").into(),
                    ParamValue::Str(v.into()),
                );
            }
        }
        if let Some(c) = d["max_concurrency"].as_i64() {
            sweep.insert("max_concurrency".into(), ParamValue::Int(c));
        }
        // Runs of different sizes are different work, not trials of one cell.
        if let Some(n) = d["num_prompts"].as_i64() {
            sweep.insert("num_prompts".into(), ParamValue::Int(n));
        }
        // "inf" (all at once) or requests per second; burstiness shapes a finite rate only.
        match (&d["request_rate"], d["request_rate"].as_f64()) {
            (_, Some(r)) if r.is_finite() => {
                sweep.insert("request_rate".into(), ParamValue::Float(r));
                if let Some(b) = num("burstiness") {
                    sweep.insert("burstiness".into(), ParamValue::Float(b));
                }
            }
            (serde_json::Value::String(s), _) => {
                sweep.insert("request_rate".into(), ParamValue::Str(s.clone()));
            }
            _ => {}
        }
        let c = cell(&variant, "serve", sweep);
        let index = match cells.iter().position(|x| x.key == c.key) {
            Some(i) => i,
            None => {
                cells.push(c);
                if !descriptions.iter().any(|(v, _)| *v == variant) {
                    descriptions.push((
                        variant.clone(),
                        format!("vLLM bench serve results ({file}…)"),
                    ));
                }
                cells.len() - 1
            }
        };
        let mut metrics = Vec::new();
        // Every statistic vLLM saved of each latency: mean, median and the percentiles
        // asked for (`p99_ttft_ms`, `p99.9_…`); its standard deviation is not a result.
        if let Some(obj) = d.as_object() {
            for (theirs, ours) in [
                ("ttft", "ttft_ms"),
                ("tpot", "tpot_ms"),
                ("itl", "itl_ms"),
                ("e2el", "e2e_ms"),
            ] {
                for (k, v) in obj {
                    let Some(stat) = k.strip_suffix(&format!("_{theirs}_ms")) else {
                        continue;
                    };
                    let Some(v) = v.as_f64().filter(|v| v.is_finite()) else {
                        continue;
                    };
                    // `p50_…` is the median again, saved when 50 is asked for among the
                    // percentiles: kept once, as the median.
                    if stat == "p50" && obj.contains_key(&format!("median_{theirs}_ms")) {
                        continue;
                    }
                    if stat == "mean" || stat == "median" || stat.starts_with('p') {
                        metrics
                            .push((format!("llm.{ours}.{stat}"), metric(v, "ms", Better::Lower)));
                    }
                }
            }
        }
        totals(
            &mut metrics,
            num,
            &[
                ("request_throughput", "llm.req_s", "req/s", Better::Higher),
                (
                    "request_goodput",
                    "llm.goodput_req_s",
                    "req/s",
                    Better::Higher,
                ),
                (
                    "output_throughput",
                    "llm.output_tok_s",
                    "tok/s",
                    Better::Higher,
                ),
                (
                    "total_token_throughput",
                    "llm.total_tok_s",
                    "tok/s",
                    Better::Higher,
                ),
                ("duration", "llm.duration_s", "s", Better::Lower),
            ],
        );
        metrics.push((
            "llm.failed".into(),
            metric(failed as f64, "requests", Better::Lower),
        ));
        metrics.push((
            "llm.error_rate".into(),
            metric(
                failed as f64 / (completed + failed).max(1) as f64,
                "fraction",
                Better::Lower,
            ),
        ));
        let ok = if completed == 0 {
            Err(format!(
                "no request succeeded ({failed} failed in vLLM's run)"
            ))
        } else {
            Ok(())
        };
        trials.push(Trial {
            cell: index,
            exit_code: None,
            wall_s: Some(duration),
            argv: vec![file.clone()],
            metrics: if ok.is_ok() { metrics } else { Vec::new() },
            ok,
        });
    }
    if trials.is_empty() {
        return Err(ImportError::Format {
            file: "(none)".into(),
            tool: TOOL,
            why: "no file given".into(),
        });
    }
    Ok(Parsed {
        tool: "vLLM bench serve",
        what: "vLLM's own per-run statistics (mean, median, the percentiles it saved), one file per trial; its TTFT, TPOT and ITL are rigor's, its e2el rigor's E2E; failed requests are counted (llm.failed, llm.error_rate), not timed",
        order: "sequential",
        cells,
        descriptions,
        trials,
        details: serde_json::json!({}),
    })
}

/// Writes what was read into `store` as a new run of `experiment`; `files` names and
/// `text` holds what was read (its hash identifies the run).
pub fn write(
    store: &Store,
    parsed: &Parsed,
    experiment: &str,
    files: &str,
    text: &str,
    command_line: &str,
) -> Result<Imported, ImportError> {
    // The fewest any cell has: another tool decides its own counts (hyperfine by time),
    // and a cell with more is not "incomplete" against the one with most.
    let per_cell = (0..parsed.cells.len())
        .map(|c| parsed.trials.iter().filter(|t| t.cell == c).count())
        .min()
        .unwrap_or(0);
    let sha = super::sha256_hex(text.as_bytes());
    let experiment_json = serde_json::json!({
        "name": experiment,
        "seed": 0,
        "baseline": parsed.descriptions.first().map(|d| d.0.clone()).unwrap_or_default(),
        "trials": per_cell,
        "order": parsed.order,
        "variants": parsed.descriptions.iter().map(|(n, c)| serde_json::json!({"name": n, "description": c})).collect::<Vec<_>>(),
        "imported": {
            "tool": parsed.tool,
            "file": files,
            "what": parsed.what,
            "details": parsed.details,
        },
    })
    .to_string();
    let run_id = store.create_run(
        &NewRun {
            experiment,
            seed: 0,
            file_path: files,
            file_text: text,
            file_sha256: &sha,
            experiment_sha256: &sha,
            experiment_json: &experiment_json,
            planned_trials: parsed.trials.len(),
        },
        &parsed.cells,
    )?;
    let environment = serde_json::json!({
        "imported": format!("measured by {} on a machine rigor did not record", parsed.tool)
    });
    let session = store.start_session(&NewSession {
        run_id,
        rigor_version: env!("CARGO_PKG_VERSION"),
        command_line,
        file_sha256: &sha,
        experiment_sha256: &sha,
        environment: &environment,
    })?;
    if let Err(e) = write_trials(store, parsed, run_id, session) {
        // Never left looking finished or still running: the partial import is marked as
        // such (the error says what failed).
        let _ = store.end_session(session, "died");
        let _ = store.set_run_status(run_id, "interrupted");
        return Err(e);
    }
    store.end_session(session, "complete")?;
    store.set_run_status(run_id, "complete")?;
    Ok(Imported {
        run_id,
        variants: parsed.descriptions.clone(),
        trials: parsed.trials.len(),
    })
}

fn write_trials(
    store: &Store,
    parsed: &Parsed,
    run_id: i64,
    session: i64,
) -> Result<(), ImportError> {
    let started = crate::machine::now_rfc3339();
    let workdir = std::path::PathBuf::from(".");
    let mut index = vec![0u32; parsed.cells.len()];
    let mut batch = Vec::with_capacity(parsed.trials.len());
    for (seq, t) in parsed.trials.iter().enumerate() {
        let i = index[t.cell];
        index[t.cell] += 1;
        batch.push(AttemptRecord {
            run_id,
            session_id: session,
            key: TrialKey {
                cell: parsed.cells[t.cell].key.clone(),
                phase: Phase::Measure,
                index: i,
            },
            seq,
            attempt: 1,
            is_final: true,
            status: if t.ok.is_ok() {
                TrialStatus::Ok
            } else {
                TrialStatus::Failed
            },
            reason: t.ok.as_ref().err().cloned(),
            exit_code: t.exit_code,
            signal: None,
            started_at: started.clone(),
            wall_s: t.wall_s,
            argv: t.argv.clone(),
            env: Vec::new(),
            workdir: workdir.clone(),
            stdout_log: None,
            stderr_log: None,
            notes: Vec::new(),
            flags: Vec::new(),
            metrics: t.metrics.clone(),
            missing: Vec::new(),
            telemetry: None,
            requests: Vec::new(),
            lane: None,
        });
    }
    // One transaction: an import is kept whole or not at all.
    store.record_attempts(&batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_usable_unique_variant_names() {
        assert_eq!(variant_name("sleep 0.01", &[]), "sleep-0.01");
        assert_eq!(
            variant_name("sleep 0.01", &["sleep-0.01".into()]),
            "sleep-0.01-2"
        );
        assert_eq!(variant_name("./bin --x=1 | wc", &[]), "bin-x-1-wc");
        assert_eq!(variant_name("!!", &[]), "command");
    }
}
