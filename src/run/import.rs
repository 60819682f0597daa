//! Results measured by other tools, brought into a store so that rigor's statistics,
//! verdicts and reports apply to them (`rigor import`). Each imported run says which tool
//! measured it and how; the report then states which of rigor's guarantees do not hold
//! (the order was the tool's, nothing was sampled, the measuring machine is not recorded).
//!
//! hyperfine (`--export-json`): each command is a variant, each of its runs a trial with
//! `time` (s), the baseline the first command; a run with a non-zero exit code is a failed
//! trial (hyperfine keeps them only with `--ignore-failure`).

use crate::plan::{Cell, Phase, TrialKey};
use crate::store::{AttemptRecord, NewRun, NewSession, Store, StoreError};
use crate::trial::{MetricValue, TrialStatus};
use std::collections::BTreeMap;

/// Why a file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: not hyperfine's --export-json output: {why}")]
    Format { file: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// What an import made: the run and how many trials.
pub struct Imported {
    pub run_id: i64,
    pub variants: Vec<(String, String)>,
    pub trials: usize,
}

/// A variant name from a command: its words joined by `-`, letters, digits, `-`, `_`, `.`
/// only, at most 64 characters, made unique.
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

/// hyperfine's results, read and checked before anything is written.
pub struct Hyperfine(HyperfineFile);

/// Reads hyperfine's JSON (`text`, from `file`).
pub fn read_hyperfine(file: &str, text: &str) -> Result<Hyperfine, ImportError> {
    let bad = |why: String| ImportError::Format {
        file: file.to_string(),
        why,
    };
    let parsed: HyperfineFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if parsed.results.is_empty() {
        return Err(bad("it holds no result".into()));
    }
    Ok(Hyperfine(parsed))
}

/// Writes hyperfine's results (read from `file`, whose text is `text`) into `store` as a
/// new run of `experiment`.
pub fn hyperfine(
    store: &Store,
    Hyperfine(parsed): &Hyperfine,
    file: &str,
    text: &str,
    experiment: &str,
    command_line: &str,
) -> Result<Imported, ImportError> {
    let mut variants: Vec<(String, String)> = Vec::new();
    for r in &parsed.results {
        let taken: Vec<String> = variants.iter().map(|v| v.0.clone()).collect();
        variants.push((variant_name(&r.command, &taken), r.command.clone()));
    }
    let workload = "hyperfine";
    let cells: Vec<Cell> = variants
        .iter()
        .map(|(v, _)| Cell {
            key: format!("{v}/{workload}"),
            variant: v.clone(),
            workload: workload.into(),
            params: BTreeMap::new(),
            sweep: BTreeMap::new(),
        })
        .collect();
    let trials = parsed
        .results
        .iter()
        .map(|r| r.times.len())
        .max()
        .unwrap_or(0);
    let sha = super::sha256_hex(text.as_bytes());
    let experiment_json = serde_json::json!({
        "name": experiment,
        "seed": 0,
        "baseline": variants[0].0,
        "trials": trials,
        // hyperfine runs every run of one command, then the next command's.
        "order": "sequential",
        "variants": variants.iter().map(|(n, c)| serde_json::json!({"name": n, "description": c})).collect::<Vec<_>>(),
        "imported": {
            "tool": "hyperfine",
            "file": file,
            "what": "wall-clock time of each run of each command, as hyperfine measured it (its shell-spawning correction applied unless -N)",
            "parameters": parsed.results.iter().map(|r| &r.parameters).collect::<Vec<_>>(),
        },
    })
    .to_string();
    let run_id = store.create_run(
        &NewRun {
            experiment,
            seed: 0,
            file_path: file,
            file_text: text,
            file_sha256: &sha,
            experiment_sha256: &sha,
            experiment_json: &experiment_json,
            planned_trials: parsed.results.iter().map(|r| r.times.len()).sum(),
        },
        &cells,
    )?;
    let environment = serde_json::json!({
        "imported": "measured by hyperfine on a machine rigor did not record"
    });
    let session = store.start_session(&NewSession {
        run_id,
        rigor_version: env!("CARGO_PKG_VERSION"),
        command_line,
        file_sha256: &sha,
        experiment_sha256: &sha,
        environment: &environment,
    })?;
    let started = crate::machine::now_rfc3339();
    let workdir = std::path::PathBuf::from(".");
    let mut seq = 0;
    for (r, cell) in parsed.results.iter().zip(&cells) {
        for (i, &t) in r.times.iter().enumerate() {
            let code = r.exit_codes.get(i).copied().flatten();
            let ok = code.is_none_or(|c| c == 0) && t.is_finite() && t >= 0.0;
            let metrics = if ok {
                vec![(
                    "time".to_string(),
                    MetricValue {
                        value: t,
                        unit: Some("s".into()),
                        better: Some(crate::define::config::Better::Lower),
                        samples: Vec::new(),
                    },
                )]
            } else {
                Vec::new()
            };
            let reason = match code {
                Some(c) if c != 0 => Some(format!("exit status {c} (hyperfine --ignore-failure)")),
                _ if !ok => Some(format!("hyperfine recorded an unusable time: {t}")),
                _ => None,
            };
            store.record_attempt(&AttemptRecord {
                run_id,
                session_id: session,
                key: &TrialKey {
                    cell: cell.key.clone(),
                    phase: Phase::Measure,
                    index: i as u32,
                },
                seq,
                attempt: 1,
                is_final: true,
                status: if ok {
                    TrialStatus::Ok
                } else {
                    TrialStatus::Failed
                },
                reason: reason.as_deref(),
                exit_code: code,
                signal: None,
                started_at: &started,
                wall_s: ok.then_some(t),
                argv: std::slice::from_ref(&r.command),
                env: &[],
                workdir: &workdir,
                stdout_log: None,
                stderr_log: None,
                notes: &[],
                flags: &[],
                metrics: &metrics,
                missing: &[],
                telemetry: None,
                requests: &[],
            })?;
            seq += 1;
        }
    }
    store.end_session(session, "complete")?;
    store.set_run_status(run_id, "complete")?;
    Ok(Imported {
        run_id,
        variants,
        trials: seq,
    })
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
