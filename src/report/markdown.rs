//! The Markdown report: warnings first, then one table per workload and metric, failures,
//! the environment and the exact experiment file.

use super::{fmt_num, metric_names, ratio_label, workloads};
use crate::analysis::Analysis;
use crate::plan::fmt_params;
use crate::store::{RunData, TrialStatus};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn to_markdown(a: &Analysis, data: &RunData) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {} — run {} ({})\n",
        a.experiment, a.run_id, a.run_status
    );
    let exp: serde_json::Value =
        serde_json::from_str(&data.run.experiment_json).unwrap_or_default();
    let _ = writeln!(
        o,
        "Baseline `{}` · {} measured trials per cell · {} warm-up · order {} · seed {} · started {}\n",
        a.baseline,
        a.trials_per_cell,
        exp["warmup"].as_u64().unwrap_or(0),
        exp["order"].as_str().unwrap_or("?"),
        data.run.seed,
        data.run.created_at
    );
    let _ = writeln!(
        o,
        "Unit of replication: the {}.\n",
        a.unit_of_replication.trim_start_matches("trial: ")
    );

    if a.warnings.is_empty() {
        let _ = writeln!(o, "## Validity\n\nNo validity warnings.\n");
    } else {
        let _ = writeln!(o, "## ⚠ Validity warnings ({})\n", a.warnings.len());
        for w in &a.warnings {
            let _ = writeln!(
                o,
                "- **{}**: {}  \n  *What to do:* {}",
                w.kind,
                esc(&w.message),
                esc(&w.advice)
            );
        }
        o.push('\n');
    }

    for w in workloads(&a.cells) {
        let cells: Vec<_> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        let _ = writeln!(o, "## Workload `{w}`\n");
        for metric in metric_names(&cells) {
            let first = cells.iter().find_map(|c| c.metrics.get(&metric));
            let unit = first
                .and_then(|m| m.unit.clone())
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default();
            let better = first
                .and_then(|m| m.better.clone())
                .map(|b| format!(" — {b} is better"))
                .unwrap_or_default();
            let _ = writeln!(o, "### {metric}{unit}{better}\n");
            let _ = writeln!(
                o,
                "| variant | params | n | mean | sd | CV | median | min | q1 | q3 | max | ratio to {} |",
                a.baseline
            );
            let _ = writeln!(
                o,
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for c in &cells {
                let params = esc(&fmt_params(&c.cell.sweep));
                let Some(m) = c.metrics.get(&metric) else {
                    let _ = writeln!(
                        o,
                        "| {} | {} | 0/{} | no data | | | | | | | | |",
                        c.cell.variant, params, c.planned
                    );
                    continue;
                };
                let ratio = ratio_label(a, c, &metric);
                let s = &m.stats;
                let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "—".into());
                let _ = writeln!(
                    o,
                    "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.cell.variant,
                    params,
                    s.n,
                    c.planned,
                    fmt_num(s.mean),
                    opt(s.sd),
                    s.cv.map(|v| format!("{:.1}%", v * 100.0))
                        .unwrap_or_else(|| "—".into()),
                    fmt_num(s.median),
                    fmt_num(s.min),
                    fmt_num(s.q1),
                    fmt_num(s.q3),
                    fmt_num(s.max),
                    ratio
                );
            }
            o.push('\n');
        }
    }
    let _ = writeln!(
        o,
        "Ratios are of means (variant / baseline) over successful measured trials. sd is the sample standard deviation; quartiles use linear interpolation (NumPy's default).\n"
    );

    let failed: Vec<_> = data
        .trials
        .iter()
        .filter(|t| t.status != TrialStatus::Ok)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            o,
            "## Failed attempts\n\n| trial | phase | attempt | final | status | reason | stderr log |\n|---|---|---:|---|---|---|---|"
        );
        for t in failed {
            let _ = writeln!(
                o,
                "| {} #{} | {} | {} | {} | {} | {} | {} |",
                esc(&t.cell_key),
                t.index + 1,
                t.phase,
                t.attempt,
                if t.is_final { "yes" } else { "retried" },
                t.status.as_str(),
                esc(t.reason.as_deref().unwrap_or("")),
                t.stderr_log
                    .as_ref()
                    .map(|l| l.to_string())
                    .unwrap_or_default()
            );
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Environment\n");
    for s in &data.sessions {
        let _ = writeln!(
            o,
            "Session {} ({} → {}, {}): `{}`\n",
            s.id,
            s.started_at,
            s.ended_at.as_deref().unwrap_or("?"),
            s.status,
            esc(&s.command_line)
        );
        if let Some(map) = s.environment.as_object() {
            for (k, v) in map {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Object(o) if o.contains_key("unavailable") => {
                        format!("unknown ({})", o["unavailable"].as_str().unwrap_or(""))
                    }
                    other => other.to_string(),
                };
                let _ = writeln!(o, "- {k}: {}", esc(&shown));
            }
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "## Experiment file\n\n`{}` (sha256 `{}`)\n\n```toml\n{}\n```",
        data.run.file_path,
        data.run.file_sha256,
        data.run.file_text.trim_end()
    );
    o
}
