//! Reports from an [`Analysis`] and the [`RunData`] it came from: Markdown, tidy CSV, JSON,
//! and the summary table printed after a run.

mod csv_out;
mod json;
mod markdown;
mod numbers;
mod table;

pub use csv_out::write_csv;
pub use json::to_json;
pub use markdown::to_markdown;
pub use numbers::{fmt_num, fmt_ratio};
pub use table::summary_table;

use crate::analysis::CellSummary;

/// Telemetry metrics present in any of `cells`, sorted.
pub(crate) fn telemetry_names(cells: &[&CellSummary]) -> Vec<String> {
    let mut out: Vec<String> = cells
        .iter()
        .flat_map(|c| c.metrics.keys())
        .filter(|n| crate::telemetry::is_telemetry_metric(n))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Metrics in display order: the user's own first, then rigor's built-ins; telemetry is
/// reported separately.
pub(crate) fn metric_names(cells: &[&CellSummary]) -> Vec<String> {
    let mut user: Vec<String> = Vec::new();
    for c in cells {
        for name in c.metrics.keys() {
            if !crate::config::is_reserved_metric(name) && !user.contains(name) {
                user.push(name.clone());
            }
        }
    }
    user.sort();
    for b in crate::config::BUILTIN_METRICS {
        if cells.iter().any(|c| c.metrics.contains_key(b)) {
            user.push(b.to_string());
        }
    }
    user
}

/// The ratio column of a cell: its ratio to the baseline, `baseline`, or `—`.
pub(crate) fn ratio_label(a: &crate::analysis::Analysis, c: &CellSummary, metric: &str) -> String {
    match a.comparison(&c.cell, metric) {
        Some(x) => match &x.result.inference {
            Some(i) => {
                let b = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "∞".into());
                format!(
                    "{} [{}, {}]",
                    fmt_ratio(x.ratio),
                    b(i.ratio_ci.lo),
                    b(i.ratio_ci.hi)
                )
            }
            None => fmt_ratio(x.ratio),
        },
        None if c.cell.variant == a.baseline => "baseline".into(),
        None => "—".into(),
    }
}

/// Workloads in first-appearance order.
pub(crate) fn workloads(cells: &[CellSummary]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.contains(&c.cell.workload) {
            out.push(c.cell.workload.clone());
        }
    }
    out
}
