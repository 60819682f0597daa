//! LaTeX for papers: one booktabs table per workload and metric (mean with its CI, ratio to
//! the baseline with its CI, adjusted p and a significance mark, units in the header), and
//! a figure snippet per figure. Needs `\usepackage{booktabs}` (and `graphicx` for figures).

use super::figures::Figure;
use super::{metric_names, slug, workloads};
use crate::analyse::Analysis;
use crate::analyse::words::fmt_ci;
use crate::plan::fmt_params;
use std::fmt::Write;

/// Escapes text for LaTeX.
pub fn tex(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                o.push('\\');
                o.push(c);
            }
            '~' => o.push_str("\\textasciitilde{}"),
            '^' => o.push_str("\\textasciicircum{}"),
            '×' => o.push_str("$\\times$"),
            '±' => o.push_str("$\\pm$"),
            '–' | '—' => o.push_str("--"),
            'µ' | 'μ' => o.push_str("$\\mu$"),
            _ => o.push(c),
        }
    }
    o
}

/// Every table, ready to `\input`.
pub fn to_latex(a: &Analysis) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "% rigor {} — {} run {}. Requires \\usepackage{{booktabs}}.\n% Means with {:.0}% t-intervals over trials; ratios of means with Fieller intervals; p adjusted ({}).\n",
        env!("CARGO_PKG_VERSION"),
        a.experiment,
        a.run_id,
        a.settings.confidence * 100.0,
        a.settings.correction.name()
    );
    let conf = format!("{:.0}", a.settings.confidence * 100.0);
    for w in workloads(&a.cells) {
        let cells: Vec<_> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        let with_params = cells.iter().any(|c| !c.cell.sweep.is_empty());
        for metric in metric_names(&cells, &a.settings.compare) {
            if super::is_resource_metric(&metric) {
                continue;
            }
            let first = cells.iter().find_map(|c| c.metrics.get(&metric));
            let unit = first.and_then(|m| m.unit.clone()).unwrap_or_default();
            let better = first
                .and_then(|m| m.better.clone())
                .map(|b| format!(" ({b} is better)"))
                .unwrap_or_default();
            let unit_head = if unit.is_empty() {
                String::new()
            } else {
                format!(" [{}]", tex(&unit))
            };
            let _ = writeln!(o, "\\begin{{table}}[t]\n\\centering\\small");
            let _ = writeln!(
                o,
                "\\caption{{{}: {}{}{}. Mean with {conf}\\% CI over $n$ trials; ratio to {} with {conf}\\% CI; $p_\\mathrm{{adj}}$ after {} correction; $^{{*}}$: $p_\\mathrm{{adj}} < {}$.}}",
                tex(&w),
                tex(&metric),
                unit_head,
                tex(&better),
                tex(&a.baseline),
                a.settings.correction.name(),
                a.settings.alpha
            );
            let _ = writeln!(o, "\\label{{tab:{}-{}}}", slug(&w), slug(&metric));
            let _ = writeln!(
                o,
                "\\begin{{tabular}}{{l{}rrrr}}\n\\toprule",
                if with_params { "l" } else { "" }
            );
            let _ = writeln!(
                o,
                "Variant{} & $n$ & Mean{} & Ratio & $p_\\mathrm{{adj}}$ \\\\\n\\midrule",
                if with_params { " & Parameters" } else { "" },
                unit_head
            );
            for c in &cells {
                let params = if with_params {
                    format!(" & {}", tex(&fmt_params(&c.cell.sweep)))
                } else {
                    String::new()
                };
                let Some(m) = c.metrics.get(&metric) else {
                    let _ = writeln!(
                        o,
                        "{}{params} & 0 & --- & --- & --- \\\\",
                        tex(&c.cell.variant)
                    );
                    continue;
                };
                let s = &m.desc.stats;
                let mean = match m.desc.mean_ci {
                    Some([lo, hi]) => {
                        let (e, l, h) = fmt_ci(s.mean, lo, hi);
                        format!("{e} [{l}, {h}]")
                    }
                    None => super::fmt_num(s.mean),
                };
                let (ratio, p) = match a
                    .comparison(&c.cell, &metric)
                    .and_then(|x| x.result.inference.as_ref())
                {
                    Some(i) => {
                        let r = match (i.ratio_ci.lo, i.ratio_ci.hi) {
                            (Some(lo), Some(hi)) => {
                                let (e, l, h) = fmt_ci(i.ratio, lo, hi);
                                format!("{e} [{l}, {h}]")
                            }
                            _ => format!("{:.3} [unbounded]", i.ratio),
                        };
                        let mark = if i.p_adjusted < a.settings.alpha {
                            "$^{*}$"
                        } else {
                            ""
                        };
                        let p = crate::stats::compare::fmt_p(i.p_adjusted).replace('<', "$<$");
                        (format!("{r}{mark}"), p)
                    }
                    None if c.cell.variant == a.baseline => ("baseline".into(), "---".into()),
                    None => ("---".into(), "---".into()),
                };
                let _ = writeln!(
                    o,
                    "{}{params} & {} & {mean} & {ratio} & {p} \\\\",
                    tex(&c.cell.variant),
                    s.n
                );
            }
            let _ = writeln!(o, "\\bottomrule\n\\end{{tabular}}\n\\end{{table}}\n");
        }
    }
    o
}

/// A figure environment per figure, for the PNGs in `figures/`.
pub fn figures_tex(figures: &[Figure]) -> String {
    let mut o = String::from("% rigor figures. Requires \\usepackage{graphicx}.\n\n");
    for f in figures {
        let _ = writeln!(
            o,
            "\\begin{{figure}}[t]\n\\centering\n\\includegraphics[width=\\linewidth]{{figures/{}.png}}\n\\caption{{{} {}}}\n\\label{{fig:{}}}\n\\end{{figure}}\n",
            f.name,
            tex(&f.title),
            tex(&f.caption),
            f.name
        );
    }
    o
}
