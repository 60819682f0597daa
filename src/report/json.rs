//! The JSON report: the analysis, the run's record and its environment.

use crate::analyse::Analysis;
use crate::store::RunData;
use serde_json::json;

pub fn to_json(a: &Analysis, data: &RunData) -> serde_json::Value {
    let failed: Vec<serde_json::Value> = data
        .trials
        .iter()
        .filter(|t| t.status != crate::store::TrialStatus::Ok)
        .map(|t| {
            json!({
                "cell": t.cell_key, "phase": t.phase, "index": t.index, "attempt": t.attempt,
                "final": t.is_final, "status": t.status, "reason": t.reason,
                "stdout_log": t.stdout_log, "stderr_log": t.stderr_log,
            })
        })
        .collect();
    json!({
        "rigor_version": env!("CARGO_PKG_VERSION"),
        "schema": "rigor.report/1",
        "run": {
            "id": data.run.id,
            "experiment": data.run.experiment,
            "status": data.run.status,
            "created_at": data.run.created_at,
            "seed": data.run.seed,
            "file_path": data.run.file_path,
            "file_sha256": data.run.file_sha256,
            "experiment_sha256": data.run.experiment_sha256,
            "planned_trials": data.run.planned_trials,
            "sessions": data.sessions,
        },
        "analysis": a,
        "failed_attempts": failed,
        "experiment_file": data.run.file_text,
    })
}
