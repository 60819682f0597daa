//! Reports from an [`Analysis`] and the [`RunData`] it came from: Markdown, tidy CSV, JSON,
//! and the summary table printed after a run.

mod csv_out;
pub mod figures;
mod html;
mod json;
mod latex;
mod markdown;
mod table;

pub use crate::analyse::words::{fmt_bound, fmt_num, fmt_ratio};
pub use csv_out::write_csv;
pub use html::{to_html, to_html_after};
pub use json::to_json;
pub use latex::{figures_tex, to_latex};
pub use markdown::{Figures, to_markdown, to_markdown_with};
pub use table::summary_table;

use crate::analyse::CellSummary;
pub use crate::analyse::{metric_names, workloads};

/// Telemetry metrics present in any of `cells`, sorted.
pub(crate) fn telemetry_names(cells: &[&CellSummary]) -> Vec<String> {
    let mut out: Vec<String> = cells
        .iter()
        .flat_map(|c| c.metrics.keys())
        .filter(|n| crate::run::telemetry::is_telemetry_metric(n))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// rigor's CPU-time and memory metrics of the trial process: in the full report, left out
/// of summary tables and figures.
pub(crate) fn is_resource_metric(m: &str) -> bool {
    matches!(m, "user_time" | "sys_time" | "max_rss")
}

/// The ratio column of a cell: its ratio to the baseline, `baseline`, or `—`.
pub(crate) fn ratio_label(a: &crate::analyse::Analysis, c: &CellSummary, metric: &str) -> String {
    match a.comparison(&c.cell, metric) {
        Some(x) => match &x.result.inference {
            Some(i) => {
                format!(
                    "{} [{}, {}]",
                    fmt_ratio(x.ratio),
                    fmt_bound(i.ratio_ci.lo),
                    fmt_bound(i.ratio_ci.hi)
                )
            }
            None => fmt_ratio(x.ratio),
        },
        None if c.cell.variant == a.baseline => "baseline".into(),
        None => "—".into(),
    }
}

/// One claim and its verdict on one line: "SUPPORTED: docker is equivalent to native on
/// wall_time (±3%) — workload serve, model=a: ratio 1.002 [0.991, 1.013]; supported: p_adj = 0.002".
pub fn claim_line(c: &crate::analyse::claims::ClaimResult) -> String {
    let mut at = String::new();
    if let Some(w) = &c.workload {
        at = format!(" — workload {w}");
        if !c.sweep.is_empty() {
            at.push_str(&format!(" {}", crate::plan::fmt_params(&c.sweep)));
        }
    }
    let ratio = match (c.ratio, c.ratio_ci) {
        (Some(r), Some([lo, hi])) => {
            format!(
                ": ratio {} [{}, {}], n = {}/{}",
                fmt_num(r),
                fmt_bound(lo),
                fmt_bound(hi),
                c.n_variant,
                c.n_baseline
            )
        }
        (Some(r), None) => format!(": ratio {}", fmt_num(r)),
        _ => String::new(),
    };
    format!(
        "{}: {}{at}{ratio}; {}",
        c.verdict.as_str().to_uppercase(),
        c.statement,
        c.detail
    )
}

/// A name usable in file names and LaTeX labels: lowercase ASCII words joined by `-`.
pub fn slug(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}
