//! Figures for reports and papers, drawn with plotters as SVG (and rasterised to PNG by
//! resvg): the distribution of each metric per cell, a forest plot of ratios to the
//! baseline, a variants × workloads heatmap, sweep plots, a representative trial's GPU
//! telemetry, and for `llm-serve` latency CDFs and latency-vs-throughput curves. Pure: the
//! caller passes what the store holds.

use super::{fmt_num, metric_names, slug, workloads};
use crate::analyse::{Analysis, CellSummary};
use crate::plan::fmt_params;
use crate::run::telemetry::{Series, WindowSpan};
use plotters::prelude::*;
use std::collections::BTreeMap;

/// One figure: a file stem, a title, a caption saying what it shows, and the SVG.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    /// The workload it belongs to; `None` for run-wide figures.
    pub workload: Option<String>,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// What figures need beyond the analysis: one representative trial's telemetry, and the
/// per-request time to first token (ms) of `llm-serve` cells.
#[derive(Debug, Default)]
pub struct Extras {
    /// (label, series, windows) of the trial whose wall time is its cell's median.
    pub telemetry: Option<(String, BTreeMap<String, Series>, Vec<WindowSpan>)>,
    /// cell key → measured requests' TTFT in ms, across the cell's successful trials.
    pub ttft_ms: BTreeMap<String, Vec<f64>>,
    /// cell key → measured requests' inter-token latencies (ms between content chunks).
    pub itl_ms: BTreeMap<String, Vec<f64>>,
}

impl Extras {
    /// Reads what the figures need from the store: the telemetry of the first cell's
    /// median-wall-time trial that has GPU series, and every `llm-serve` cell's TTFTs.
    pub fn load(
        store: &crate::store::Store,
        data: &crate::store::RunData,
    ) -> Result<Extras, crate::store::StoreError> {
        let mut out = Extras::default();
        let mut by_cell: BTreeMap<&str, Vec<&crate::store::TrialRow>> = BTreeMap::new();
        for t in data.trials.iter().filter(|t| crate::analyse::included(t)) {
            by_cell.entry(t.cell_key.as_str()).or_default().push(t);
        }
        for cell in &data.cells {
            let Some(trials) = by_cell.get(cell.key.as_str()) else {
                continue;
            };
            let (mut ttft, mut itl) = (Vec::new(), Vec::new());
            for t in trials {
                let (a, b) = store.request_latencies_ms(t.id)?;
                ttft.extend(a);
                itl.extend(b);
            }
            if !ttft.is_empty() {
                out.ttft_ms.insert(cell.key.clone(), ttft);
            }
            if !itl.is_empty() {
                out.itl_ms.insert(cell.key.clone(), itl);
            }
            if out.telemetry.is_none() {
                // The trial of median wall time (among those that have one) stands for it.
                let mut timed: Vec<(&crate::store::TrialRow, f64)> = trials
                    .iter()
                    .filter_map(|t| Some((*t, t.wall_s?)))
                    .collect();
                timed.sort_by(|a, b| a.1.total_cmp(&b.1));
                let Some(&(t, _)) = timed.get(timed.len() / 2) else {
                    continue;
                };
                let series = store.series(t.id)?;
                if series.keys().any(|k| k.starts_with("gpu0.")) {
                    out.telemetry = Some((
                        format!("{} #{}", t.cell_key, t.index + 1),
                        series,
                        store.windows(t.id)?,
                    ));
                }
            }
        }
        Ok(out)
    }
}

crate::reason_error!(
    /// Why a figure could not be drawn or written.
    FigureError
);

type R<T> = Result<T, FigureError>;

fn err<E: std::fmt::Display>(e: E) -> FigureError {
    FigureError(format!("drawing a figure: {e}"))
}

const FONT: &str = "sans-serif";
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A padded range that contains every value (and is never empty).
fn range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

fn axis_label(metric: &str, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.is_empty() => format!("{metric} [{u}]"),
        _ => metric.to_string(),
    }
}

fn cell_label(c: &CellSummary) -> String {
    let p = fmt_params(&c.cell.sweep);
    if p.is_empty() {
        c.cell.variant.clone()
    } else {
        format!("{} {p}", c.cell.variant)
    }
}

/// Box (quartiles, median, whiskers to min and max) and every trial as a dot, per cell.
fn distribution(cells: &[&CellSummary], metric: &str, title: &str) -> R<String> {
    let shown: Vec<&&CellSummary> = cells
        .iter()
        .filter(|c| c.metrics.contains_key(metric))
        .collect();
    let unit = shown.iter().find_map(|c| c.metrics[metric].unit.clone());
    let (ylo, yhi) = range(
        shown
            .iter()
            .flat_map(|c| c.metrics[metric].values.iter().copied()),
    );
    let k = shown.len();
    let width = (160 + 110 * k).clamp(480, 1400) as u32;
    render(width, 420, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..(k as f64 - 0.5), ylo..yhi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k.max(1))
            .x_label_formatter(&|_| String::new())
            .y_desc(axis_label(metric, unit.as_deref()))
            .y_label_formatter(&|v| fmt_num(*v))
            .axis_desc_style((FONT, 14))
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        for (i, c) in shown.iter().enumerate() {
            let m = &c.metrics[metric];
            let s = &m.desc.stats;
            let x = i as f64;
            let col = color(i);
            let w = 0.28;
            chart
                .draw_series([
                    Rectangle::new([(x - w, s.q1), (x + w, s.q3)], col.mix(0.25).filled()),
                    Rectangle::new([(x - w, s.q1), (x + w, s.q3)], col.stroke_width(1)),
                ])
                .map_err(err)?;
            chart
                .draw_series([
                    PathElement::new(
                        vec![(x - w, s.median), (x + w, s.median)],
                        col.stroke_width(3),
                    ),
                    PathElement::new(vec![(x, s.q3), (x, s.max)], col.stroke_width(1)),
                    PathElement::new(vec![(x, s.q1), (x, s.min)], col.stroke_width(1)),
                    PathElement::new(
                        vec![(x - w / 2.0, s.max), (x + w / 2.0, s.max)],
                        col.stroke_width(1),
                    ),
                    PathElement::new(
                        vec![(x - w / 2.0, s.min), (x + w / 2.0, s.min)],
                        col.stroke_width(1),
                    ),
                ])
                .map_err(err)?;
            // Trials side by side in run order across the box, so none hides another.
            let n = m.values.len().max(1) as f64;
            chart
                .draw_series(m.values.iter().enumerate().map(|(j, v)| {
                    let dx = if n > 1.0 {
                        -w + 2.0 * w * j as f64 / (n - 1.0)
                    } else {
                        0.0
                    };
                    Circle::new((x + dx * 0.8, *v), 3, BLACK.mix(0.7).filled())
                }))
                .map_err(err)?;
            let (px, py) = chart.backend_coord(&(x, ylo));
            root.draw(&Text::new(
                cell_label(c),
                (px - cell_label(c).chars().count() as i32 * 13 / 4, py + 10),
                (FONT, 12).into_font(),
            ))
            .map_err(err)?;
        }
        Ok(())
    })
}

/// Ratio to the baseline with its CI, one row per comparison, a line at 1.
fn forest(a: &Analysis, metrics: &[String]) -> R<Option<String>> {
    let rows: Vec<(String, f64, f64, f64, bool)> = a
        .comparisons
        .iter()
        .filter(|c| metrics.contains(&c.metric))
        .filter_map(|c| {
            let i = c.result.inference.as_ref()?;
            let (lo, hi) = (i.ratio_ci.lo?, i.ratio_ci.hi?);
            let p = fmt_params(&c.sweep);
            Some((
                format!("{} · {} {p} · {}", c.variant, c.workload, c.metric),
                i.ratio,
                lo,
                hi,
                i.outcome == crate::stats::compare::Outcome::Different,
            ))
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let (xlo, xhi) = range(rows.iter().flat_map(|r| [r.2, r.3, 1.0]));
    let h = (90 + 26 * rows.len()).min(2400) as u32;
    let label_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(10) as u32 * 7 + 20;
    render(label_w + 520, h, |root| {
        let n = rows.len();
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Ratio to {} with {:.0}% CI",
                    a.baseline,
                    a.settings.confidence * 100.0
                ),
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_w)
            .build_cartesian_2d(xlo..xhi, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[n - 1 - i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("variant / baseline (ratio of means)")
            .x_label_formatter(&|v| fmt_num(*v))
            .axis_desc_style((FONT, 14))
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        chart
            .draw_series([PathElement::new(
                vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
                BLACK.mix(0.5).stroke_width(1),
            )])
            .map_err(err)?;
        for (k, (_, r, lo, hi, sig)) in rows.iter().enumerate() {
            let y = (n - 1 - k) as f64;
            let col = if *sig { color(3) } else { color(0) };
            chart
                .draw_series([PathElement::new(
                    vec![(*lo, y), (*hi, y)],
                    col.stroke_width(2),
                )])
                .map_err(err)?;
            chart
                .draw_series([Circle::new((*r, y), 4, col.filled())])
                .map_err(err)?;
        }
        Ok(())
    })
    .map(Some)
}

/// The metric a workload's heatmap and sweep plot show: its first own metric, else wall_time.
fn primary(cells: &[&CellSummary]) -> Option<String> {
    let names = metric_names(cells, &[]);
    names
        .iter()
        .find(|m| {
            !crate::define::config::is_reserved_metric(m)
                && !crate::run::telemetry::is_telemetry_metric(m)
        })
        .or_else(|| names.iter().find(|m| *m == "wall_time"))
        .cloned()
}

/// Variants × (workload, sweep point): speedup over the baseline on each workload's
/// primary metric (> 1 is better), significant cells marked.
fn heatmap(a: &Analysis) -> R<Option<String>> {
    let mut columns: Vec<(
        String,
        String,
        BTreeMap<String, crate::define::config::ParamValue>,
    )> = Vec::new();
    for w in workloads(&a.cells) {
        let cells: Vec<&CellSummary> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        let Some(metric) = primary(&cells) else {
            continue;
        };
        for c in &cells {
            if !columns
                .iter()
                .any(|(cw, _, s)| cw == &w && s == &c.cell.sweep)
            {
                columns.push((w.clone(), metric.clone(), c.cell.sweep.clone()));
            }
        }
    }
    let mut variants: Vec<String> = Vec::new();
    for c in &a.cells {
        if c.cell.variant != a.baseline && !variants.contains(&c.cell.variant) {
            variants.push(c.cell.variant.clone());
        }
    }
    if variants.is_empty() || columns.len() * variants.len() < 2 {
        return Ok(None);
    }
    let value = |v: &str,
                 (w, m, s): &(
        String,
        String,
        BTreeMap<String, crate::define::config::ParamValue>,
    )| {
        let c = a
            .comparisons
            .iter()
            .find(|c| c.variant == v && &c.workload == w && &c.metric == m && &c.sweep == s)?;
        // A ratio of 0 or below (a zero or negative mean) has no speedup to colour: the
        // cell shows "—", as one without a comparison.
        let r = c.ratio.filter(|r| *r > 0.0 && r.is_finite())?;
        let dir = crate::analyse::direction(c.better.as_deref(), c.unit.as_deref());
        let speedup = if dir.lower_is_better == Some(true) {
            1.0 / r
        } else {
            r
        };
        let sig = c
            .result
            .inference
            .as_ref()
            .is_some_and(|i| i.outcome == crate::stats::compare::Outcome::Different);
        Some((speedup, sig))
    };
    let (cw, ch) = (120i32, 44i32);
    let left = 20 + variants.iter().map(|v| v.len()).max().unwrap_or(4) as i32 * 8;
    let top = 70;
    let title = format!(
        "Speedup over {} (>1 is better; * significant after correction)",
        a.baseline
    );
    let width =
        (left + cw * columns.len() as i32 + 30).max(title.chars().count() as i32 * 9 + 20) as u32;
    let height = (top + ch * variants.len() as i32 + 20) as u32;
    render(width, height, |root| {
        root.draw(&Text::new(title, (10, 10), (FONT, 16).into_font()))
            .map_err(err)?;
        for (j, (w, m, s)) in columns.iter().enumerate() {
            let x = left + cw * j as i32;
            let head = format!("{w} {}", fmt_params(s));
            root.draw(&Text::new(head, (x + 4, top - 34), (FONT, 11).into_font()))
                .map_err(err)?;
            root.draw(&Text::new(
                m.clone(),
                (x + 4, top - 18),
                (FONT, 10).into_font().color(&BLACK.mix(0.6)),
            ))
            .map_err(err)?;
        }
        for (i, v) in variants.iter().enumerate() {
            let y = top + ch * i as i32;
            root.draw(&Text::new(
                v.clone(),
                (10, y + ch / 2 - 6),
                (FONT, 13).into_font(),
            ))
            .map_err(err)?;
            for (j, col) in columns.iter().enumerate() {
                let x = left + cw * j as i32;
                let (fill, text) = match value(v, col) {
                    Some((s, sig)) => {
                        // Diverging: green faster, red slower; saturates at 2x either way.
                        let t = (s.ln() / 2f64.ln()).clamp(-1.0, 1.0);
                        let c = if t >= 0.0 {
                            RGBColor(
                                (255.0 - 200.0 * t) as u8,
                                (255.0 - 80.0 * t) as u8,
                                (255.0 - 200.0 * t) as u8,
                            )
                        } else {
                            RGBColor(
                                (255.0 + 40.0 * t) as u8,
                                (255.0 + 200.0 * t) as u8,
                                (255.0 + 200.0 * t) as u8,
                            )
                        };
                        (c, format!("{s:.2}×{}", if sig { "*" } else { "" }))
                    }
                    None => (RGBColor(235, 235, 235), "—".to_string()),
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cw - 2, y + ch - 2)],
                    fill.filled(),
                ))
                .map_err(err)?;
                root.draw(&Text::new(
                    text,
                    (x + 10, y + ch / 2 - 7),
                    (FONT, 14).into_font(),
                ))
                .map_err(err)?;
            }
        }
        Ok(())
    })
    .map(Some)
}

type Area<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// An SVG of `w`×`h` drawn by `draw` on a white background.
fn render(w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> R<()>) -> R<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Numeric axes with descriptions and 4-significant-digit labels.
fn xy_chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: Option<&str>,
    x: (f64, f64),
    y: (f64, f64),
    desc: (&str, &str),
    small: bool,
) -> R<Chart<'a, 'b>> {
    let mut b = ChartBuilder::on(area);
    if let Some(c) = caption {
        b.caption(c, (FONT, 18));
    }
    let mut chart = b
        .margin(if small { 8 } else { 12 })
        .x_label_area_size(if small { 30 } else { 44 })
        .y_label_area_size(80)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    let size = if small { 12 } else { 14 };
    chart
        .configure_mesh()
        .x_desc(desc.0)
        .y_desc(desc.1)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FONT, size))
        .label_style((FONT, size - 2))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// A solid line with a legend entry.
fn labeled_line(
    chart: &mut Chart<'_, '_>,
    pts: Vec<(f64, f64)>,
    col: RGBColor,
    label: &str,
) -> R<()> {
    chart
        .draw_series(LineSeries::new(pts, col.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
    Ok(())
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, pos: SeriesLabelPosition) -> R<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 12))
        .draw()
        .map_err(err)
}

/// Metric mean against a numeric sweep parameter, one line per variant, CI band.
fn sweep(cells: &[&CellSummary], metric: &str, param: &str, title: &str) -> R<Option<String>> {
    let mut lines: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for c in cells {
        let (Some(m), Some(p)) = (c.metrics.get(metric), c.cell.sweep.get(param)) else {
            continue;
        };
        let x = match p {
            crate::define::config::ParamValue::Int(i) => *i as f64,
            crate::define::config::ParamValue::Float(f) => *f,
            _ => return Ok(None),
        };
        let [lo, hi] = m.desc.mean_ci.unwrap_or([m.desc.stats.mean; 2]);
        lines
            .entry(c.cell.variant.clone())
            .or_default()
            .push((x, m.desc.stats.mean, lo, hi));
    }
    let unit = cells
        .iter()
        .find_map(|c| c.metrics.get(metric).and_then(|m| m.unit.clone()));
    let x = range(lines.values().flatten().map(|p| p.0));
    let y = range(lines.values().flatten().flat_map(|p| [p.2, p.3]));
    let ydesc = axis_label(metric, unit.as_deref());
    variant_lines(
        title,
        x,
        y,
        (param, &ydesc),
        lines,
        |p| (p.0, p.1),
        |chart, pts, col| {
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, p.3))
                .chain(pts.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart
                .draw_series([Polygon::new(band, col.mix(0.18).filled())])
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, col.filled())))
                .map_err(err)?;
            Ok(())
        },
    )
}

/// One line per variant over a shared x axis, its points sorted by x, with a legend;
/// `more` draws what else a line carries (a CI band, a dashed percentile) beneath it.
/// None when no line has two points.
fn variant_lines<P>(
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
    axes: (&str, &str),
    mut lines: BTreeMap<String, Vec<P>>,
    xy: fn(&P) -> (f64, f64),
    more: impl Fn(&mut Chart<'_, '_>, &[P], RGBColor) -> R<()>,
) -> R<Option<String>> {
    if lines.values().all(|l| l.len() < 2) {
        return Ok(None);
    }
    for pts in lines.values_mut() {
        pts.sort_by(|a, b| xy(a).0.total_cmp(&xy(b).0));
    }
    render(720, 440, |root| {
        let mut chart = xy_chart(root, Some(title), x, y, axes, false)?;
        for (i, (variant, pts)) in lines.iter().enumerate() {
            let col = color(i);
            more(&mut chart, pts, col)?;
            labeled_line(&mut chart, pts.iter().map(xy).collect(), col, variant)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
    .map(Some)
}

/// A representative trial's GPU readings over time, one panel per reading; its
/// measurement windows shaded.
pub fn timeline(
    label: &str,
    series: &BTreeMap<String, Series>,
    windows: &[WindowSpan],
) -> R<Option<String>> {
    let wanted = [
        "power_w",
        "temp_c",
        "sm_clock_mhz",
        "mem_used_mib",
        "util_pct",
        "pcie_rx_bytes",
        "pcie_tx_bytes",
    ];
    let chosen: Vec<(&String, &Series)> = wanted
        .iter()
        .filter_map(|w| series.get_key_value(&format!("gpu0.{w}")))
        .filter(|(_, s)| s.t.len() >= 2)
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    let t_end = chosen
        .iter()
        .filter_map(|(_, s)| s.t.last().copied())
        .fold(0.0f64, f64::max)
        .max(1e-3);
    render(760, 60 + 170 * chosen.len() as u32, |root| {
        let root = root
            .titled(&format!("GPU telemetry of {label}"), (FONT, 18))
            .map_err(err)?;
        for (panel, (name, s)) in root.split_evenly((chosen.len(), 1)).iter().zip(&chosen) {
            // Counters become rates, so a panel shows what moved when; bytes as GB/s.
            let counter = s.kind == crate::run::telemetry::Kind::Counter;
            let (scale, unit) = match (counter, s.unit.as_str()) {
                (true, "B") => (1e-9, "GB/s".to_string()),
                (true, u) => (1.0, format!("{u}/s")),
                (false, u) => (1.0, u.to_string()),
            };
            let pts: Vec<(f64, f64)> = if counter {
                s.t.windows(2)
                    .zip(s.v.windows(2))
                    .filter(|(t, _)| t[1] > t[0])
                    .map(|(t, v)| (t[1], (v[1] - v[0]) / (t[1] - t[0]) * scale))
                    .collect()
            } else {
                s.t.iter().copied().zip(s.v.iter().copied()).collect()
            };
            let ydesc = format!("{} [{unit}]", name.trim_start_matches("gpu0."));
            let y = range(pts.iter().map(|p| p.1));
            let mut chart = xy_chart(
                panel,
                None,
                (0.0, t_end),
                y,
                ("time in trial [s]", &ydesc),
                true,
            )?;
            chart
                .draw_series(windows.iter().map(|w| {
                    Rectangle::new(
                        [(w.begin_s, y.0), (w.end_s, y.1)],
                        RGBColor(120, 120, 120).mix(0.15).filled(),
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(pts, color(0).stroke_width(2)))
                .map_err(err)?;
        }
        Ok(())
    })
    .map(Some)
}

/// A metric across runs (`rigor history`): each run's mean with its interval, in run
/// order, and a dashed line at each step found.
pub fn trend(
    title: &str,
    ylabel: &str,
    points: &[crate::analyse::history::Point],
    steps: &[usize],
) -> R<String> {
    let x = (0.5, points.len() as f64 + 0.5);
    let y = range(points.iter().flat_map(|p| {
        let (lo, hi) = p.ci.map_or((p.mean, p.mean), |c| (c[0], c[1]));
        [lo, hi, p.mean]
    }));
    render(720, 400, |root| {
        let mut chart = xy_chart(
            root,
            Some(title),
            x,
            y,
            ("run (oldest first)", ylabel),
            false,
        )?;
        let pts: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| ((i + 1) as f64, p.mean))
            .collect();
        for &at in steps {
            let xs = at as f64 + 0.5;
            chart
                .draw_series(DashedLineSeries::new(
                    [(xs, y.0), (xs, y.1)],
                    6,
                    4,
                    color(1).stroke_width(2),
                ))
                .map_err(err)?;
        }
        chart
            .draw_series(points.iter().enumerate().filter_map(|(i, p)| {
                let c = p.ci?;
                let xi = (i + 1) as f64;
                Some(PathElement::new(
                    vec![(xi, c[0]), (xi, c[1])],
                    color(0).stroke_width(2),
                ))
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(pts.clone(), color(0).stroke_width(1)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color(0).filled())))
            .map_err(err)?;
        Ok(())
    })
}

/// Most points drawn per CDF line: the chart is 440 px high, so 2,000 steps of 1/2,000
/// each are already below a pixel; every point of 750,000 pooled inter-token gaps made a
/// 5.4 MB SVG of the same picture.
const CDF_POINTS: usize = 2000;

/// (x, F(x)) of sorted values `v`, at most `max` + 1 of them: every point when there are
/// few, else the points at evenly spaced ranks, the first and last included.
fn cdf_points(v: &[f64], max: usize) -> Vec<(f64, f64)> {
    let n = v.len();
    let at = |k: usize| (v[k], (k + 1) as f64 / n as f64);
    if n <= max + 1 {
        return (0..n).map(at).collect();
    }
    let mut pts: Vec<(f64, f64)> = (0..=max)
        .map(|j| at((j as f64 * (n - 1) as f64 / max as f64).round() as usize))
        .collect();
    pts.dedup_by(|a, b| a == b);
    pts
}

/// Empirical CDF of per-request latencies (`what`: "TTFT" or "ITL"), one line per cell.
fn latency_cdf(
    workload: &str,
    what: &str,
    cells: &[&CellSummary],
    ttft: &BTreeMap<String, Vec<f64>>,
) -> R<Option<String>> {
    let lines: Vec<(String, Vec<f64>)> = cells
        .iter()
        .filter_map(|c| {
            let mut v = ttft.get(&c.cell.key)?.clone();
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| (cell_label(c), v))
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let (xlo, xhi) = range(lines.iter().flat_map(|(_, v)| [v[0], v[v.len() - 1]]));
    let title = format!("{workload}: {what}, all measured requests");
    render(720, 440, |root| {
        let mut chart = xy_chart(
            root,
            Some(&title),
            (xlo.max(0.0), xhi),
            (0.0, 1.0),
            (&format!("{what} [ms]"), "fraction"),
            false,
        )?;
        for (i, (label, v)) in lines.iter().enumerate() {
            labeled_line(&mut chart, cdf_points(v, CDF_POINTS), color(i), label)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
    .map(Some)
}

/// Latency (median and p99 TTFT) against achieved request rate over a sweep, per variant.
fn latency_throughput(workload: &str, cells: &[&CellSummary]) -> R<Option<String>> {
    let mut lines: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for c in cells {
        let get = |m: &str| c.metrics.get(m).map(|m| m.desc.stats.mean);
        if let (Some(x), Some(med), Some(p99)) = (
            get("llm.req_s"),
            get("llm.ttft_ms.median"),
            get("llm.ttft_ms.p99"),
        ) {
            lines
                .entry(c.cell.variant.clone())
                .or_default()
                .push((x, med, p99));
        }
    }
    let x = range(lines.values().flatten().map(|p| p.0));
    let (ylo, yhi) = range(lines.values().flatten().flat_map(|p| [p.1, p.2]));
    let title = format!("{workload}: latency vs throughput (solid: median, dashed: p99)");
    variant_lines(
        &title,
        x,
        (ylo.max(0.0), yhi),
        ("achieved requests/s (mean over trials)", "TTFT [ms]"),
        lines,
        |p| (p.0, p.1),
        |chart, pts, col| {
            chart
                .draw_series(DashedLineSeries::new(
                    pts.iter().map(|p| (p.0, p.2)),
                    6,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(err)?;
            Ok(())
        },
    )
}

/// Every figure the run supports, in report order.
pub fn figures(a: &Analysis, extras: &Extras) -> R<Vec<Figure>> {
    let mut out = Vec::new();
    if let Some(svg) = heatmap(a)? {
        out.push(Figure {
            workload: None,
            name: "heatmap".into(),
            title: "Speedup per variant and workload".into(),
            caption: format!("Each workload's primary metric, as speedup over {} (the inverse ratio for lower-is-better metrics); * marks differences significant after correction.", a.baseline),
            svg,
        });
    }
    let mut forest_metrics: Vec<String> = Vec::new();
    for w in workloads(&a.cells) {
        let cells: Vec<&CellSummary> = a.cells.iter().filter(|c| c.cell.workload == w).collect();
        let names: Vec<String> = metric_names(&cells, &a.settings.compare)
            .into_iter()
            .filter(|m| !super::is_resource_metric(m))
            .collect();
        for metric in &names {
            if !forest_metrics.contains(metric) {
                forest_metrics.push(metric.clone());
            }
        }
        for metric in names.iter().take(8) {
            let title = format!("{w}: {metric} per trial");
            out.push(Figure {
                workload: Some(w.clone()),
                name: format!("dist-{}-{}", slug(&w), slug(metric)),
                title: title.clone(),
                caption: "Box: quartiles and median; whiskers: min and max; dots: every successful trial in run order.".into(),
                svg: distribution(&cells, metric, &title)?,
            });
        }
        let params: Vec<String> = cells
            .first()
            .map(|c| c.cell.sweep.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(metric) = primary(&cells) {
            for p in &params {
                let title = format!("{w}: {metric} vs {p}");
                if let Some(svg) = sweep(&cells, &metric, p, &title)? {
                    out.push(Figure {
                        workload: Some(w.clone()),
                        name: format!("sweep-{}-{}", slug(&w), slug(p)),
                        title,
                        caption: format!(
                            "Mean per cell with its {:.0}% CI (band), one line per variant.",
                            a.settings.confidence * 100.0
                        ),
                        svg,
                    });
                }
            }
        }
        for (what, name, data) in [
            ("TTFT", "ttft", &extras.ttft_ms),
            ("ITL", "itl", &extras.itl_ms),
        ] {
            if let Some(svg) = latency_cdf(&w, what, &cells, data)? {
                out.push(Figure {
                    workload: Some(w.clone()),
                    name: format!("{name}-cdf-{}", slug(&w)),
                    title: format!("{w}: {what} distribution"),
                    caption: format!("Empirical CDF of every measured request's {} pooled over a cell's trials (descriptive only; comparisons use one value per trial).", if name == "ttft" { "time to first token," } else { "inter-token latencies (gaps between content chunks)," }),
                    svg,
                });
            }
        }
        if let Some(svg) = latency_throughput(&w, &cells)? {
            out.push(Figure {
                workload: Some(w.clone()),
                name: format!("latency-throughput-{}", slug(&w)),
                title: format!("{w}: latency vs throughput"),
                caption: "Each point is a sweep point: mean over trials of the achieved request rate and of the per-trial median and p99 TTFT.".into(),
                svg,
            });
        }
    }
    if let Some(svg) = forest(a, &forest_metrics)? {
        out.push(Figure {
            workload: None,
            name: "forest".into(),
            title: "Ratios to the baseline".into(),
            caption: "Ratio of means (variant / baseline) with its Fieller interval; red: significant after correction.".into(),
            svg,
        });
    }
    if let Some((label, series, windows)) = &extras.telemetry
        && let Some(svg) = timeline(label, series, windows)?
    {
        out.push(Figure {
            workload: None,
            name: "telemetry".into(),
            title: format!("GPU telemetry of {label}"),
            caption: "NVML readings sampled by rigor during a representative trial (the one with its cell's median wall time); counters shown as rates; shaded: the trial's measurement windows.".into(),
            svg,
        });
    }
    Ok(out)
}

/// DejaVu Sans (Bitstream Vera license, assets/fonts/LICENSE-DejaVu.txt), for machines
/// without fonts.
const BUILTIN_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Writes every figure into `dir` as SVG and, at print resolution, PNG. Returns why there
/// are no PNGs when they could not be drawn (then only SVGs are written).
pub fn write_dir(figs: &[Figure], dir: &std::path::Path) -> Result<Option<String>, FigureError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FigureError(format!("cannot create {}: {e}", dir.display())))?;
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes)
            .map_err(|e| FigureError(format!("cannot write {}: {e}", path.display())))
    };
    let mut no_png = None;
    for f in figs {
        write(dir.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
        if no_png.is_some() {
            continue;
        }
        match to_png(&f.svg, 2.0) {
            Ok(bytes) => write(dir.join(format!("{}.png", f.name)), &bytes)?,
            Err(e) => no_png = Some(e.0),
        }
    }
    Ok(no_png)
}

/// Rasterises an SVG at `scale` (2 gives print resolution for a 720-px-wide figure).
pub fn to_png(svg: &str, scale: f32) -> R<Vec<u8>> {
    rasterise(svg, scale, true)
}

/// The fonts figures are drawn with, built once per process: scanning the system's font
/// directories costs more than drawing a figure, and a report draws dozens.
fn fonts(system_fonts: bool) -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    use std::sync::{Arc, OnceLock};
    static SYSTEM: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    static BUILTIN_ONLY: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    let cell = if system_fonts { &SYSTEM } else { &BUILTIN_ONLY };
    cell.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        if system_fonts {
            db.load_system_fonts();
        }
        // plotters writes the generic family; map it to a common sans font, and where the
        // machine has none (GPU nodes often have no fonts at all) to the DejaVu Sans built
        // into rigor: without a font resvg would draw no text, and a figure without its
        // labels and numbers is worse than none.
        let family = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans"]
            .into_iter()
            .find(|f| {
                db.faces()
                    .any(|face| face.families.iter().any(|(n, _)| n == f))
            });
        match family {
            Some(f) => db.set_sans_serif_family(f),
            None => {
                db.load_font_data(BUILTIN_FONT.to_vec());
                db.set_sans_serif_family("DejaVu Sans");
            }
        }
        Arc::new(db)
    })
    .clone()
}

fn rasterise(svg: &str, scale: f32, system_fonts: bool) -> R<Vec<u8>> {
    let opt = resvg::usvg::Options {
        fontdb: fonts(system_fonts),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &opt).map_err(err)?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or("figure too large")?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("figure has no size")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(err)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_long_cdf_is_drawn_from_evenly_spaced_ranks_with_both_ends() {
        let v: Vec<f64> = (0..1_000_000).map(|i| i as f64).collect();
        let p = cdf_points(&v, 2000);
        assert!(p.len() <= 2001, "{}", p.len());
        assert_eq!(p[0], (0.0, 1e-6));
        assert_eq!(p[p.len() - 1], (999_999.0, 1.0));
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        // Few values: every one.
        assert_eq!(cdf_points(&[1.0, 2.0, 3.0], 2000).len(), 3);
    }

    use super::*;

    #[test]
    fn text_is_drawn_with_the_builtin_font_when_the_machine_has_none() {
        let svg = render(200, 60, |root| {
            root.draw(&Text::new("8192 TFLOP/s", (10, 20), (FONT, 24).into_font()))
                .map_err(err)
        })
        .unwrap();
        let png = rasterise(&svg, 1.0, false).unwrap();
        let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        let inked = pixmap.pixels().iter().filter(|p| p.red() < 128).count();
        assert!(inked > 200, "only {inked} dark pixels: no text was drawn");
    }
}
