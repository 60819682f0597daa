//! The summary printed after `rigor run` and `rigor compare`.

use super::{fmt_num, metric_names, ratio_label, workloads};
use crate::analyse::Analysis;
use crate::plan::fmt_params;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

/// One table per workload and metric: each cell's n, mean ± sd, CV, median and ratio to the
/// baseline. rigor's CPU and memory metrics are left to the full report.
pub fn summary_table(a: &Analysis) -> String {
    let mut out = String::new();
    for w in workloads(&a.cells) {
        let cells: Vec<_> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        for metric in metric_names(&cells, &a.settings.compare) {
            if super::is_resource_metric(&metric) {
                continue;
            }
            let unit = cells
                .iter()
                .find_map(|c| c.metrics.get(&metric).and_then(|m| m.unit.clone()))
                .unwrap_or_default();
            let better = cells
                .iter()
                .find_map(|c| c.metrics.get(&metric).and_then(|m| m.better.clone()))
                .map(|b| format!(", {b} is better"))
                .unwrap_or_default();
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
            t.set_header(vec![
                "variant",
                "params",
                "n",
                "mean",
                "± sd",
                "CV",
                "median",
                "min",
                "max",
                &format!(
                    "ratio to {} [{}% CI]",
                    a.baseline,
                    a.settings.confidence * 100.0
                ),
            ]);
            for c in &cells {
                let Some(m) = c.metrics.get(&metric) else {
                    t.add_row(vec![
                        c.cell.variant.clone(),
                        fmt_params(&c.cell.sweep),
                        format!("0/{}", c.planned),
                        "no data".into(),
                    ]);
                    continue;
                };
                let ratio = ratio_label(a, c, &metric);
                let n = if c.failed > 0 || (c.ok as usize) < c.planned as usize {
                    format!("{}/{}", m.desc.stats.n, c.planned)
                } else {
                    m.desc.stats.n.to_string()
                };
                t.add_row(vec![
                    c.cell.variant.clone(),
                    fmt_params(&c.cell.sweep),
                    n,
                    fmt_num(m.desc.stats.mean),
                    m.desc.stats.sd.map(fmt_num).unwrap_or_else(|| "—".into()),
                    m.desc
                        .stats
                        .cv
                        .map(|v| format!("{:.1}%", v * 100.0))
                        .unwrap_or_else(|| "—".into()),
                    fmt_num(m.desc.stats.median),
                    fmt_num(m.desc.stats.min),
                    fmt_num(m.desc.stats.max),
                    ratio,
                ]);
            }
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" [{unit}]")
            };
            out.push_str(&format!("{w} · {metric}{unit}{better}\n{t}\n"));
            for x in a
                .comparisons
                .iter()
                .filter(|x| x.workload == w && x.metric == metric)
            {
                let params = fmt_params(&x.sweep);
                let at = if params.is_empty() {
                    String::new()
                } else {
                    format!(" at {params}")
                };
                out.push_str(&format!("  {}{at}: {}\n", x.variant, x.result.verdict));
            }
        }
    }
    out
}
