//! `rigor diff OLD NEW`: two runs of one experiment side by side. The two runs become one
//! analysis in which every cell of OLD is the baseline of the same cell in NEW (the cell's
//! own variant moves into its sweep point, so cells are matched by key), so that the
//! comparison is exactly `report`'s: ratio intervals, tests, TOST, Holm over each metric's
//! family, verdicts in words. What differs around them (the environment, the experiment
//! file) and cells found in only one run are named beside the verdicts. Pure.

use crate::define::config::ParamValue;
use crate::plan::Cell;
use crate::store::{RunData, TrialRow};
use std::collections::BTreeMap;

/// The variant names the two runs take in the combined analysis.
pub const OLD: &str = "OLD";
pub const NEW: &str = "NEW";

/// Two runs as one analysable run, and what the comparison cannot see by itself.
pub struct Combined {
    pub data: RunData,
    /// Cell keys of one run that the other does not have.
    pub only_old: Vec<String>,
    pub only_new: Vec<String>,
    /// The experiments differ in what decides the trials (their hashes differ).
    pub experiment_changed: bool,
    /// (setting, OLD's value, NEW's value) of the machines' recorded environments, where
    /// they differ: the first suspects for a change.
    pub environment: Vec<(String, String, String)>,
}

fn flatten(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(x, p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(path, s.clone());
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// The settings of the last session's environment of each run that differ (when it was
/// captured and the load average then are readings of a moment, not settings: left out).
pub fn environment_changes(old: &RunData, new: &RunData) -> Vec<(String, String, String)> {
    let env = |d: &RunData| {
        let mut m = BTreeMap::new();
        if let Some(s) = d.sessions.last() {
            flatten(&s.environment, String::new(), &mut m);
        }
        // The client floor is a measurement of each session, not a setting of the machine.
        m.retain(|k, _| {
            k != "captured_at" && !k.starts_with("load_average") && !k.starts_with("client_floor")
        });
        m
    };
    let (a, b) = (env(old), env(new));
    let absent = || "—".to_string();
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            (
                k.clone(),
                a.get(k).cloned().unwrap_or_else(absent),
                b.get(k).cloned().unwrap_or_else(absent),
            )
        })
        .collect()
}

fn recast(cell: &Cell, side: &str) -> Cell {
    let mut sweep = cell.sweep.clone();
    sweep.insert("variant".into(), ParamValue::Str(cell.variant.clone()));
    let mut params = cell.params.clone();
    params.insert("variant".into(), ParamValue::Str(cell.variant.clone()));
    Cell {
        key: format!("{side}:{}", cell.key),
        variant: side.to_string(),
        workload: cell.workload.clone(),
        params,
        sweep,
    }
}

/// OLD and NEW as one run whose baseline is OLD. Trials keep their values (derived metrics
/// included, each run with its own file's); ids are made unique.
pub fn combine(old: &RunData, new: &RunData) -> Combined {
    let keys = |d: &RunData| d.cells.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
    let (ko, kn) = (keys(old), keys(new));
    let only_old: Vec<String> = ko.iter().filter(|k| !kn.contains(k)).cloned().collect();
    let only_new: Vec<String> = kn.iter().filter(|k| !ko.contains(k)).cloned().collect();
    let mut cells = Vec::new();
    let mut trials: Vec<TrialRow> = Vec::new();
    let id_offset = old.trials.iter().map(|t| t.id).max().unwrap_or(0) + 1;
    for (side, d, offset) in [(OLD, old, 0), (NEW, new, id_offset)] {
        for c in d
            .cells
            .iter()
            .filter(|c| ko.contains(&c.key) && kn.contains(&c.key))
        {
            cells.push(recast(c, side));
        }
        for t in d
            .trials
            .iter()
            .filter(|t| ko.contains(&t.cell_key) && kn.contains(&t.cell_key))
        {
            let mut t = t.clone();
            t.cell_key = format!("{side}:{}", t.cell_key);
            t.id += offset;
            trials.push(t);
        }
    }
    // NEW's experiment decides the analysis settings; OLD is the baseline; claims and
    // adaptive stopping belong to single runs.
    let mut exp: serde_json::Value =
        serde_json::from_str(&new.run.experiment_json).unwrap_or_default();
    if let Some(o) = exp.as_object_mut() {
        o.insert("baseline".into(), OLD.into());
        o.remove("hypotheses");
        o.remove("adaptive");
        let per_cell = |d: &RunData| {
            serde_json::from_str::<serde_json::Value>(&d.run.experiment_json)
                .ok()
                .and_then(|e| e["trials"].as_u64())
                .unwrap_or(0)
        };
        o.insert("trials".into(), per_cell(old).min(per_cell(new)).into());
    }
    let mut run = new.run.clone();
    run.experiment = format!("{} (diff)", new.run.experiment);
    run.experiment_json = exp.to_string();
    let mut sessions = old.sessions.clone();
    sessions.extend(new.sessions.iter().cloned());
    Combined {
        experiment_changed: old.run.experiment_sha256 != new.run.experiment_sha256,
        environment: environment_changes(old, new),
        only_old,
        only_new,
        data: RunData {
            run,
            sessions,
            cells,
            trials,
        },
    }
}
