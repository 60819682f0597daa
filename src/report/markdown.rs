//! The Markdown report: warnings first, then one table per workload and metric, failures,
//! the environment and the exact experiment file.

use super::figures::Figure;
use super::{fmt_bound, fmt_num, metric_names, ratio_label, telemetry_names, workloads};
use crate::analyse::Analysis;
use crate::plan::fmt_params;
use crate::store::{RunData, TrialStatus};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Telemetry per cell: means over the cell's successful trials, one row per reading, at
/// most six cells per table; readings that could not be taken say why below.
fn telemetry_tables(o: &mut String, cells: &[&crate::analyse::CellSummary], data: &RunData) {
    let names = telemetry_names(cells);
    let mut reasons: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for t in data.trials.iter().filter(|t| crate::analyse::included(t)) {
        if !cells.iter().any(|c| c.cell.key == t.cell_key) {
            continue;
        }
        for (m, why) in &t.missing {
            if crate::run::telemetry::is_telemetry_metric(m) {
                reasons.entry(m.clone()).or_default().insert(why.clone());
            }
        }
    }
    if names.is_empty() && reasons.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "### Telemetry

Mean over each cell's successful trials (sampled by rigor during every trial; no comparisons are made on these).
"
    );
    let mut all: Vec<&String> = names.iter().chain(reasons.keys()).collect();
    all.sort();
    all.dedup();
    for group in cells.chunks(6) {
        let _ = write!(o, "| reading |");
        for c in group {
            let _ = write!(
                o,
                " {} {} |",
                c.cell.variant,
                esc(&fmt_params(&c.cell.sweep))
            );
        }
        let _ = writeln!(o, "\n|---|{}", "---:|".repeat(group.len()));
        for name in &all {
            let unit = group
                .iter()
                .find_map(|c| c.metrics.get(*name).and_then(|m| m.unit.clone()))
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default();
            let _ = write!(o, "| {name}{unit} |");
            for c in group {
                match c.metrics.get(*name) {
                    Some(m) => {
                        let _ = write!(o, " {} |", fmt_num(m.desc.stats.mean));
                    }
                    None => {
                        let _ = write!(o, " — |");
                    }
                }
            }
            o.push('\n');
        }
        o.push('\n');
    }
    if !reasons.is_empty() {
        let _ = writeln!(o, "Not measured (—):\n");
        for (m, why) in &reasons {
            let why: Vec<&str> = why.iter().map(String::as_str).collect();
            let _ = writeln!(o, "- {m}: {}", esc(&why.join("; ")));
        }
        o.push('\n');
    }
}

/// How a report carries figures.
#[derive(Clone, Copy)]
pub enum Figures<'a> {
    None,
    /// As images in `figures/`, beside the report: SVG, and PNG where `true` (they could
    /// be drawn).
    Linked(&'a [Figure], bool),
    /// As inline SVG (the HTML report); also boxes the validity warnings.
    Inline(&'a [Figure]),
}

impl Figures<'_> {
    fn write(&self, o: &mut String, pick: impl Fn(&Figure) -> bool) {
        let (list, inline, png) = match self {
            Figures::None => return,
            Figures::Linked(l, png) => (*l, false, *png),
            Figures::Inline(l) => (*l, true, false),
        };
        for f in list.iter().filter(|f| pick(f)) {
            if inline {
                // One line: a blank line would end the HTML block.
                let svg = f.svg.replace('\n', " ");
                let _ = writeln!(
                    o,
                    "<figure id=\"fig-{}\">{svg}<figcaption><b>{}.</b> {}</figcaption></figure>\n",
                    f.name,
                    html_escape(&f.title),
                    html_escape(&f.caption)
                );
            } else if png {
                let _ = writeln!(
                    o,
                    "![{}](figures/{}.svg)\n\n*{}* ([PNG](figures/{}.png))\n",
                    f.title, f.name, f.caption, f.name
                );
            } else {
                let _ = writeln!(
                    o,
                    "![{}](figures/{}.svg)\n\n*{}*\n",
                    f.title, f.name, f.caption
                );
            }
        }
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn to_markdown(a: &Analysis, data: &RunData) -> String {
    to_markdown_with(a, data, Figures::None)
}

/// The Markdown report, with figures linked or inline.
pub fn to_markdown_with(a: &Analysis, data: &RunData, figures: Figures<'_>) -> String {
    let inline = matches!(figures, Figures::Inline(_));
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
        if a.adaptive.is_some() {
            format!("adaptive, at least {}", a.trials_per_cell)
        } else {
            a.trials_per_cell.to_string()
        },
        exp["warmup"].as_u64().unwrap_or(0),
        exp["order"].as_str().unwrap_or("?"),
        data.run.seed,
        data.run.created_at
    );
    let _ = writeln!(
        o,
        "Unit of replication: the trial ({}).\n",
        a.unit_of_replication.trim_start_matches("trial: ")
    );

    if !a.claims.is_empty() {
        let _ = writeln!(o, "## Hypotheses\n");
        for c in &a.claims {
            let _ = writeln!(o, "- {}", esc(&super::claim_line(c)));
        }
        let _ = writeln!(
            o,
            "\nClaims as written in the experiment file before the run; tested after {} correction across all claims at α = {}.\n",
            a.settings.correction.name(),
            a.settings.alpha
        );
    }

    if a.warnings.is_empty() {
        let _ = writeln!(o, "## Validity\n\nNo validity warnings.\n");
    } else {
        if inline {
            o.push_str("<div class=\"warnings\">\n\n");
        }
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
        if inline {
            o.push_str("</div>\n\n");
        }
    }

    if let Some(ad) = &a.adaptive {
        let _ = writeln!(o, "## Adaptive stopping\n\nRule: {}.\n", ad.rule);
        let _ = writeln!(o, "| cell | trials | ended because |\n|---|---:|---|");
        for d in &ad.cells {
            let _ = writeln!(o, "| {} | {} | {} |", esc(&d.cell), d.finished, esc(&d.why));
        }
        o.push('\n');
    }

    verdicts(&mut o, a);
    figures.write(&mut o, |f| f.workload.is_none() && f.name != "telemetry");

    for w in workloads(&a.cells) {
        let cells: Vec<_> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        let _ = writeln!(o, "## Workload `{w}`\n");
        for metric in metric_names(&cells, &a.settings.compare) {
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
                let s = &m.desc.stats;
                let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "—".into());
                // Location statistics to the decimal place the mean's CI supports.
                let loc = |x: f64| match m.desc.mean_ci {
                    // Fixed decimals read well between 1e-3 and 1e6; beyond, 4 significant digits.
                    Some([lo, hi]) if hi > lo && (x == 0.0 || (1e-3..1e6).contains(&x.abs())) => {
                        format!("{x:.*}", crate::analyse::words::ci_decimals(lo, hi))
                    }
                    _ => fmt_num(x),
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.cell.variant,
                    params,
                    s.n,
                    c.planned,
                    loc(s.mean),
                    opt(s.sd),
                    s.cv.map(|v| format!("{:.1}%", v * 100.0))
                        .unwrap_or_else(|| "—".into()),
                    loc(s.median),
                    loc(s.min),
                    loc(s.q1),
                    loc(s.q3),
                    loc(s.max),
                    ratio
                );
            }
            o.push('\n');
            comparison_table(&mut o, a, &w, &metric);
        }
        figures.write(&mut o, |f| f.workload.as_deref() == Some(w.as_str()));
        telemetry_tables(&mut o, &cells, data);
    }
    figures.write(&mut o, |f| f.name == "telemetry");
    let _ = writeln!(
        o,
        "Ratios are of means (variant / baseline) over successful measured trials. Mean, median, min, quartiles and max are printed to the decimal place the mean's confidence interval supports (two significant digits of its half-width). sd is the sample standard deviation; quartiles use linear interpolation (NumPy's default). {}\n",
        methods(a)
    );

    if let Some(l) = &a.lanes {
        lanes_section(&mut o, l);
    }

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
                if k == "gpu"
                    && let Ok(g) =
                        serde_json::from_value::<crate::machine::gpu::GpuSystem>(v.clone())
                {
                    for (label, text) in crate::machine::envinfo::gpu_lines(&g) {
                        let _ = writeln!(o, "- {label}: {}", esc(&text));
                    }
                    continue;
                }
                if k == "client_floor"
                    && let Some(floors) = v.as_object()
                {
                    for (w, f) in floors {
                        let _ =
                            writeln!(o, "- client floor, `{}`: {}", esc(w), esc(&floor_line(f)));
                    }
                    continue;
                }
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

/// What the comparisons did, in one paragraph a methods section can quote.
fn methods(a: &Analysis) -> String {
    let s = &a.settings;
    format!(
        "Each comparison is variant vs baseline at the same sweep point, on per-trial values. Ratio CI: Fieller's ({conf}%). Test: Welch's t-test, unless Shapiro–Wilk rejects normality (α = {alpha}) in a sample of fewer than 30 trials, then Mann–Whitney U (with a BCa bootstrap of the ratio, {b} resamples, as a cross-check) where it can still reach significance after the correction (not at 3 + 3 trials: its smallest p is 0.10). p-values are adjusted with {corr:?} over all comparisons of the same metric. Without a significant difference, TOST tests equivalence within ±{m}% and the trials needed are for {pw}% power at ±{m}%. See docs/statistics.md.",
        conf = s.confidence * 100.0,
        alpha = s.alpha,
        b = s.resamples,
        corr = s.correction,
        m = s.margin * 100.0,
        pw = s.power * 100.0,
    )
}

fn verdicts(o: &mut String, a: &Analysis) {
    if a.comparisons.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Verdicts (vs `{}`)\n", a.baseline);
    for c in &a.comparisons {
        let _ = writeln!(
            o,
            "- `{}{}` **{}**: {}",
            c.workload,
            fmt_params(&c.sweep),
            c.metric,
            esc(&c.result.verdict)
        );
    }
    o.push('\n');
}

fn comparison_table(o: &mut String, a: &Analysis, workload: &str, metric: &str) {
    let rows: Vec<_> = a
        .comparisons
        .iter()
        .filter(|c| c.workload == workload && c.metric == metric)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "| variant | params | ratio | {}% CI | test | p | p_adj | Hedges' g | TOST p (±{}%) | power at ±{}% | trials needed |\n|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
        a.settings.confidence * 100.0,
        a.settings.margin * 100.0,
        a.settings.margin * 100.0
    );
    for c in &rows {
        let params = esc(&fmt_params(&c.sweep));
        let Some(i) = &c.result.inference else {
            let _ = writeln!(
                o,
                "| {} | {params} | {} | — | — | — | — | — | — | — | — |",
                c.variant,
                c.ratio.map(fmt_num).unwrap_or_else(|| "—".into())
            );
            continue;
        };
        let _ = writeln!(
            o,
            "| {} | {params} | {} | [{}, {}] ({}) | {} | {} | {} | {} | {} | {} | {} |",
            c.variant,
            fmt_num(i.ratio),
            fmt_bound(i.ratio_ci.lo),
            fmt_bound(i.ratio_ci.hi),
            i.ratio_ci.method,
            match i.test {
                crate::stats::compare::TestUsed::Welch => "Welch t",
                crate::stats::compare::TestUsed::MannWhitney => "Mann–Whitney U",
            },
            crate::stats::compare::fmt_p(i.p),
            crate::stats::compare::fmt_p(i.p_adjusted),
            i.effect
                .map(|e| format!("{:.2}", e.hedges_g.value))
                .unwrap_or_else(|| "—".into()),
            i.tost
                .map(|t| crate::stats::compare::fmt_p(t.p))
                .unwrap_or_else(|| "—".into()),
            i.power_at_margin
                .map(|p| format!("{:.0}%", p * 100.0))
                .unwrap_or_else(|| "—".into()),
            i.trials_needed
                .map(|n| n.to_string())
                .unwrap_or_else(|| "—".into()),
        );
    }
    o.push('\n');
    for c in &rows {
        if let Some(i) = &c.result.inference {
            let _ = writeln!(
                o,
                "- {} {}: {}",
                c.variant,
                esc(&fmt_params(&c.sweep)),
                esc(&i.test_reason)
            );
        }
    }
    o.push('\n');
}

/// Per-lane means, the lane and lane × variant tests, and the isolation check.
fn lanes_section(o: &mut String, l: &crate::analyse::lanes::LaneAnalysis) {
    let _ = writeln!(
        o,
        "## Lanes
"
    );
    for (k, d) in l.lanes.iter().enumerate() {
        let _ = writeln!(o, "- lane {k}: {}", d.as_deref().unwrap_or("no trial"));
    }
    o.push('\n');
    for g in &l.groups {
        let unit = g
            .unit
            .as_deref()
            .map(|u| format!(" [{u}]"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "### `{}{}` {}{unit} by lane\n",
            esc(&g.workload),
            esc(&crate::plan::fmt_params(&g.sweep)),
            esc(&g.metric)
        );
        let lanes: Vec<u32> = (0..l.lanes.len() as u32).collect();
        let _ = writeln!(
            o,
            "| variant | {} |\n|---|{}",
            lanes
                .iter()
                .map(|k| format!("lane {k}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(lanes.len())
        );
        let mut variants: Vec<&str> = Vec::new();
        for m in &g.means {
            if !variants.contains(&m.variant.as_str()) {
                variants.push(&m.variant);
            }
        }
        for v in variants {
            let row: Vec<String> = lanes
                .iter()
                .map(|&k| {
                    g.means
                        .iter()
                        .find(|m| m.variant == v && m.lane == k)
                        .map_or("–".into(), |m| {
                            format!("{} (n = {})", crate::analyse::words::fmt_num(m.mean), m.n)
                        })
                })
                .collect();
            let _ = writeln!(o, "| {} | {} |", esc(v), row.join(" | "));
        }
        let ratios: Vec<String> = g
            .lane_ratio
            .iter()
            .map(|r| r.map_or("–".into(), |r| format!("{r:.4}")))
            .collect();
        let _ = writeln!(o, "| *lane ÷ lanes' mean* | {} |\n", ratios.join(" | "));
        match &g.test {
            Ok(t) => {
                let inter = match (&t.interaction, t.interaction_p_adjusted) {
                    (Some(i), Some(p)) => format!(
                        "; lane × variant: F({}, {}) = {:.3}, {}",
                        i.df,
                        t.residual_df,
                        i.f,
                        crate::stats::compare::p_eq("p_adj", p)
                    ),
                    _ => String::new(),
                };
                let _ = writeln!(
                    o,
                    "Lane effect{}: F({}, {}) = {:.3}, {}{inter} (two-way ANOVA, Type II, Holm-adjusted over the lane tests).\n",
                    if t.log_scale { " (on log values)" } else { "" },
                    t.lane.df,
                    t.residual_df,
                    t.lane.f,
                    crate::stats::compare::p_eq("p_adj", t.lane_p_adjusted)
                );
            }
            Err(why) => {
                let _ = writeln!(o, "No lane test: {}.\n", esc(why));
            }
        }
    }
    if !l.isolation.is_empty() {
        let _ = writeln!(
            o,
            "### Isolation check\n\nThe cell's trials beside busy lanes (another lane ran a trial through at least half of each) against the same cell run alone (every other lane idle); its trials with the other lanes mostly idle are left out.\n\n| cell | metric | n alone | n beside | left out | mean alone | mean beside | beside ÷ alone [CI] | TOST p (±margin) | outcome |\n|---|---|---:|---:|---:|---:|---:|---|---:|---|"
        );
        for i in &l.isolation {
            let ratio = match &i.ratio {
                Ok(r) => format!(
                    "{:.4} [{}, {}]",
                    r.ratio,
                    r.lo.map_or("–".into(), |v| format!("{v:.4}")),
                    r.hi.map_or("–".into(), |v| format!("{v:.4}"))
                ),
                Err(why) => esc(why),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {ratio} | {} (±{}) | {} |",
                esc(&i.cell),
                esc(&i.metric),
                i.n_alone,
                i.n_beside,
                i.n_not_beside,
                crate::analyse::words::fmt_num(i.mean_alone),
                crate::analyse::words::fmt_num(i.mean_beside),
                i.tost_p.map_or("–".into(), crate::stats::compare::fmt_p),
                i.margin,
                i.outcome
            );
        }
        o.push('\n');
    }
}

/// The client floor as one line: what rigor reached against a trivial loopback endpoint.
fn floor_line(f: &serde_json::Value) -> String {
    if let Some(why) = f["unavailable"].as_str() {
        return format!("not measured ({why})");
    }
    if f["ok"].as_u64() == Some(0) {
        return format!(
            "not measured: none of its {} requests to the trivial endpoint succeeded",
            f["requests"].as_u64().unwrap_or(0)
        );
    }
    let dist = |k: &str| match (f[k]["median"].as_f64(), f[k]["p99"].as_f64()) {
        (Some(m), Some(p)) => format!("{k} median {m:.3} ms, p99 {p:.3} ms"),
        _ => format!("{k} not measured"),
    };
    format!(
        "{}; {}; {:.1} req/s over {} requests ({} failed), the load of {} against a trivial loopback endpoint rigor serves itself: the measurement floor on this machine, not the server's",
        dist("ttft_ms"),
        dist("e2e_ms"),
        f["req_s"].as_f64().unwrap_or(0.0),
        f["requests"].as_u64().unwrap_or(0),
        f["failed"].as_u64().unwrap_or(0),
        f["cell"].as_str().unwrap_or("?")
    )
}
