//! From a trial's [`Recording`] to its telemetry metrics, the readings that are missing
//! (with why), validity flags, and notes. Pure.

use super::{Kind, Recording, Series, reason_names, slowdown_bits};
use crate::define::config::Reduce;
use crate::define::config::{Better, Telemetry};
use crate::run::extract::{MetricValue, reduce};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub metrics: Vec<(String, MetricValue)>,
    pub missing: Vec<(String, String)>,
    /// `kind: text` lines that make the trial suspect (throttling, a foreign process).
    pub flags: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Copy)]
enum Op {
    Mean,
    Max,
    /// last − first of a counter, scaled.
    Delta(f64),
    /// ∫ v dt over the samples (trapezoids).
    Integral,
}

/// The per-GPU metrics: (metric suffix, series, op, unit, better).
const GPU_METRICS: [(&str, &str, Op, &str, Option<Better>); 14] = [
    (
        "energy_j",
        "energy_mj",
        Op::Delta(1e-3),
        "J",
        Some(Better::Lower),
    ),
    (
        "power_w.mean",
        "power_w",
        Op::Mean,
        "W",
        Some(Better::Lower),
    ),
    ("power_w.max", "power_w", Op::Max, "W", Some(Better::Lower)),
    // NVML's own average over its window (1 s on Ampere and later), as nvidia-smi shows it.
    (
        "power_avg_w.mean",
        "power_avg_w",
        Op::Mean,
        "W",
        Some(Better::Lower),
    ),
    // The energy the power samples add up to: a check on the counter (docs/gpu.md).
    (
        "energy_integrated_j",
        "power_w",
        Op::Integral,
        "J",
        Some(Better::Lower),
    ),
    ("temp_c.max", "temp_c", Op::Max, "°C", Some(Better::Lower)),
    (
        "mem_temp_c.max",
        "mem_temp_c",
        Op::Max,
        "°C",
        Some(Better::Lower),
    ),
    ("sm_clock_mhz.mean", "sm_clock_mhz", Op::Mean, "MHz", None),
    ("mem_clock_mhz.mean", "mem_clock_mhz", Op::Mean, "MHz", None),
    ("util_pct.mean", "util_pct", Op::Mean, "%", None),
    ("mem_util_pct.mean", "mem_util_pct", Op::Mean, "%", None),
    (
        "mem_used_mib.peak",
        "mem_used_mib",
        Op::Max,
        "MiB",
        Some(Better::Lower),
    ),
    ("pcie_tx_gb", "pcie_tx_bytes", Op::Delta(1e-9), "GB", None),
    ("pcie_rx_gb", "pcie_rx_bytes", Op::Delta(1e-9), "GB", None),
];

/// Every GPU metric name a trial can have (for "missing" when GPUs cannot be read).
pub fn gpu_metric_names() -> impl Iterator<Item = String> {
    GPU_METRICS
        .iter()
        .map(|m| format!("gpu.{}", m.0))
        .chain(["gpu.throttled_fraction".to_string()])
}

fn usable(s: Option<&Series>) -> Option<&Series> {
    s.filter(|s| !s.v.is_empty())
}

fn apply(s: &Series, op: Op) -> Option<f64> {
    match op {
        Op::Mean => Some(reduce(&s.v, Reduce::Mean)),
        Op::Max => Some(reduce(&s.v, Reduce::Max)),
        Op::Delta(scale) => {
            (s.v.len() >= 2).then(|| (s.v[s.v.len() - 1] - s.v[0]).max(0.0) * scale)
        }
        Op::Integral => integrate(s),
    }
}

/// ∫ v dt by the trapezoid rule, for a rate when its counter is missing.
fn integrate(s: &Series) -> Option<f64> {
    (s.v.len() >= 2).then(|| {
        s.t.windows(2)
            .zip(s.v.windows(2))
            .map(|(t, v)| (t[1] - t[0]) * (v[0] + v[1]) / 2.0)
            .sum()
    })
}

fn metric(value: f64, unit: &str, better: Option<Better>) -> MetricValue {
    MetricValue {
        value,
        unit: Some(unit.into()),
        better,
        samples: Vec::new(),
    }
}

/// One GPU's metrics under `prefix` (`gpu` or `gpu3`).
fn one_gpu(
    rec: &Recording,
    carried: &BTreeMap<String, Series>,
    index: u32,
    prefix: &str,
    out: &mut Summary,
) {
    let series = |name: &str| {
        let key = format!("gpu{index}.{name}");
        usable(carried.get(&key).or_else(|| rec.series.get(&key)))
    };
    let why = |name: &str| {
        rec.unavailable
            .get(&format!("gpu{index}.{name}"))
            .cloned()
            .unwrap_or_else(|| "no sample was taken".into())
    };
    for (suffix, src, op, unit, better) in GPU_METRICS {
        let name = format!("{prefix}.{suffix}");
        let direct = series(src).and_then(|s| apply(s, op));
        // A 32-bit byte counter unwraps unambiguously only while less than its width
        // passes between two reads.
        let wrap = super::nvml_source::PCIE_COUNTER_WRAP;
        if matches!(suffix, "pcie_tx_gb" | "pcie_rx_gb")
            && let Some(s) = series(src)
            && let Some(step) = s.v.windows(2).map(|w| w[1] - w[0]).reduce(f64::max)
            && step > 0.75 * wrap
        {
            out.missing.push((
                name,
                format!(
                    "{:.2} GB crossed PCIe between two reads of NVML's 32-bit byte counter, which wraps at {:.2} GB: a second wrap could not have been seen",
                    step * 1e-9,
                    wrap * 1e-9
                ),
            ));
            continue;
        }
        let value = match (direct, suffix) {
            (Some(v), _) => Some(v),
            // No energy counter (before Volta), or a trial over before its first read:
            // integrate power, and say so.
            (None, "energy_j") => series("power_w").and_then(integrate).inspect(|_| {
                let key = format!("gpu{index}.{src}");
                out.notes.push(match rec.unavailable.get(&key) {
                    Some(why) => format!(
                        "{name} integrated from power samples: the GPU has no energy counter ({why})"
                    ),
                    None => format!(
                        "{name} integrated from power samples: the trial ended before the energy counter's first read"
                    ),
                })
            }),
            (None, "pcie_tx_gb" | "pcie_rx_gb") => {
                let rate = if suffix == "pcie_tx_gb" {
                    "pcie_tx_kbs"
                } else {
                    "pcie_rx_kbs"
                };
                series(rate)
                    .and_then(integrate)
                    .map(|kb| kb * 1e3 * 1e-9)
                    .inspect(|_| {
                        out.notes.push(format!(
                            "{name} integrated from NVML's sampled PCIe throughput: the GPU has no byte counters"
                        ))
                    })
            }
            _ => None,
        };
        match value {
            Some(v) => out.metrics.push((name, metric(v, unit, better))),
            None => out.missing.push((name, why(src))),
        }
    }
    let name = format!("{prefix}.throttled_fraction");
    match series("clock_event_reasons") {
        Some(s) => {
            let slow = slowdown_bits();
            let hits = s.v.iter().filter(|&&m| (m as u64) & slow != 0).count();
            out.metrics.push((
                name,
                metric(
                    hits as f64 / s.v.len() as f64,
                    "fraction",
                    Some(Better::Lower),
                ),
            ));
        }
        None => out.missing.push((name, why("clock_event_reasons"))),
    }
}

/// The GPU and host metrics of a recording (everything but flags, notes and cadence).
fn levels(rec: &Recording, carried: &BTreeMap<String, Series>, out: &mut Summary) {
    if let Some(why) = &rec.gpu_unavailable {
        out.missing
            .extend(gpu_metric_names().map(|n| (n, why.clone())));
    }
    match rec.gpus.as_slice() {
        [] => {}
        [one] => one_gpu(rec, carried, one.index, "gpu", out),
        many => {
            // Each GPU under its own name, and the machine as a whole under `gpu`.
            let mut per = Vec::new();
            for g in many {
                let mut s = Summary::default();
                one_gpu(rec, carried, g.index, &format!("gpu{}", g.index), &mut s);
                per.push(s);
            }
            for (suffix, _, op, unit, better) in GPU_METRICS
                .iter()
                .map(|m| (m.0, m.1, m.2, m.3, m.4))
                .chain([(
                    "throttled_fraction",
                    "",
                    Op::Max,
                    "fraction",
                    Some(Better::Lower),
                )])
            {
                let vals: Vec<f64> = per
                    .iter()
                    .zip(many)
                    .filter_map(|(s, g)| {
                        let n = format!("gpu{}.{suffix}", g.index);
                        s.metrics.iter().find(|m| m.0 == n).map(|m| m.1.value)
                    })
                    .collect();
                let name = format!("gpu.{suffix}");
                if vals.len() < many.len() {
                    out.missing.push((name, "not read on every GPU".into()));
                    continue;
                }
                // Totals add up; levels and rates per GPU are averaged; peaks take the max.
                let v = match (op, suffix) {
                    (Op::Delta(_) | Op::Integral, _)
                    | (_, "power_w.mean" | "power_avg_w.mean" | "mem_used_mib.peak") => {
                        vals.iter().sum()
                    }
                    (Op::Max, _) => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    (Op::Mean, _) => vals.iter().sum::<f64>() / vals.len() as f64,
                };
                out.metrics.push((name, metric(v, unit, better)));
            }
            for s in per {
                out.metrics.extend(s.metrics);
                out.missing.extend(s.missing);
                out.notes.extend(s.notes);
            }
        }
    }
    host_metrics(rec, out);
}

/// The energy counter carried out to the trial's edges, by series name. The slow thread
/// reads it from its first tick (25 ms into a trial) to its last, not on the runner's
/// thread at the edges: one read cost ~3 ms on an H200, and two per trial were most of a
/// short trial's overhead. The power samples do reach both edges (the fast thread's first
/// and last samples bracket the trial, at ~3 µs a read), so the counter's first reading
/// is lowered by ∫ power from the first power sample to it, and its last raised by
/// ∫ power from it to the last power sample. Over whole trials ∫ power and the counter
/// agreed within 1% on an H200 (docs/gpu.md); the edges are tens of milliseconds.
fn energy_edges(rec: &Recording) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::new();
    for (key, e) in &rec.series {
        let Some(gpu) = key.strip_suffix(".energy_mj") else {
            continue;
        };
        let Some(p) = usable(rec.series.get(&format!("{gpu}.power_w"))) else {
            continue;
        };
        let (Some(&e0), Some(&e1), Some(&p0), Some(&p1)) =
            (e.t.first(), e.t.last(), p.t.first(), p.t.last())
        else {
            continue;
        };
        if p.t.len() < 2 || (p0 >= e0 && p1 <= e1) {
            continue;
        }
        // J → mJ.
        let gap = |a: f64, b: f64| {
            stitch(p, &[(a, b)])
                .and_then(|s| integrate(&s))
                .unwrap_or(0.0)
                * 1e3
        };
        let mut c = Series::new(&e.unit, e.kind);
        if p0 < e0 {
            c.push(p0, e.v[0] - gap(p0, e0));
        }
        for (&t, &v) in e.t.iter().zip(&e.v) {
            c.push(t, v);
        }
        if p1 > e1 {
            c.push(p1, e.v[e.v.len() - 1] + gap(e1, p1));
        }
        out.insert(key.clone(), c);
    }
    out
}

/// The same metrics over the visits of one window (`spans`, seconds on the recording's
/// clock), named under `prefix` (`window.gpu.energy_j`). The visits are stitched into one
/// stretch of time: each series is cut at the window's edges (linear interpolation between
/// the samples either side; a bit mask keeps the state it had), the cuts are laid end to
/// end, and a counter continues across a cut, so that every reduction (last − first,
/// ∫ dt, mean, max) covers the window and nothing outside it.
pub fn summarize_window(rec: &Recording, spans: &[(f64, f64)], prefix: &str) -> Summary {
    // Only what `levels` reads: the window's series, the GPUs, and why readings are absent
    // (not a copy of every full series first).
    let carried = energy_edges(rec);
    let stitched = Recording {
        series: rec
            .series
            .iter()
            .filter_map(|(k, s)| stitch(carried.get(k).unwrap_or(s), spans).map(|s| (k.clone(), s)))
            .collect(),
        gpus: rec.gpus.clone(),
        unavailable: rec.unavailable.clone(),
        gpu_unavailable: rec.gpu_unavailable.clone(),
        ..Recording::default()
    };
    let mut inner = Summary::default();
    levels(&stitched, &BTreeMap::new(), &mut inner);
    let name = |n: String| format!("{prefix}.{n}");
    let mut out = Summary {
        metrics: inner
            .metrics
            .into_iter()
            .map(|(n, v)| (name(n), v))
            .collect(),
        missing: inner
            .missing
            .into_iter()
            .map(|(n, w)| (name(n), w))
            .collect(),
        ..Summary::default()
    };
    let seconds: f64 = spans.iter().map(|(b, e)| (e - b).max(0.0)).sum();
    if rec.ticks > 0 && seconds * 1e3 < 2.0 * rec.interval_ms {
        out.notes.push(format!(
            "telemetry: {prefix} lasted {:.1} ms, less than two sampling intervals ({:.0} ms): its readings are interpolated between samples",
            seconds * 1e3,
            rec.interval_ms
        ));
    }
    out
}

/// `s` over the spans, laid end to end (see [`summarize_window`]); None if no span meets it.
fn stitch(s: &Series, spans: &[(f64, f64)]) -> Option<Series> {
    let (first, last) = (*s.t.first()?, *s.t.last()?);
    let at = |x: f64| -> f64 {
        let i = s.t.partition_point(|&t| t <= x);
        if i == 0 {
            return s.v[0];
        }
        if i == s.t.len() || s.kind == Kind::Bits {
            return s.v[i - 1];
        }
        let (t0, t1, v0, v1) = (s.t[i - 1], s.t[i], s.v[i - 1], s.v[i]);
        if t1 > t0 {
            v0 + (v1 - v0) * (x - t0) / (t1 - t0)
        } else {
            v1
        }
    };
    let mut out = Series::new(&s.unit, s.kind);
    let (mut clock, mut carried) = (0.0, 0.0);
    for &(b, e) in spans {
        let (b, e) = (b.max(first), e.min(last));
        if e < b {
            continue;
        }
        let base = at(b);
        let shift = |v: f64| {
            if s.kind == Kind::Counter {
                v - base + carried
            } else {
                v
            }
        };
        let inside = s.t.iter().zip(&s.v).filter(|&(&t, _)| t > b && t < e);
        if s.kind == Kind::Bits {
            // A mask is a state, not a level: the samples taken inside, or the state at the start.
            let mut any = false;
            for (&t, &v) in inside {
                out.push(clock + t - b, v);
                any = true;
            }
            if !any {
                out.push(clock, base);
            }
        } else {
            out.push(clock, shift(base));
            for (&t, &v) in inside {
                out.push(clock + t - b, shift(v));
            }
            out.push(clock + e - b, shift(at(e)));
            if s.kind == Kind::Counter {
                carried += at(e) - base;
            }
        }
        clock += e - b;
    }
    (!out.v.is_empty()).then_some(out)
}

pub fn summarize(rec: &Recording, settings: &Telemetry) -> Summary {
    let mut out = Summary::default();
    levels(rec, &energy_edges(rec), &mut out);
    if settings.flag_throttle {
        for g in &rec.gpus {
            if let Some(s) = usable(
                rec.series
                    .get(&format!("gpu{}.clock_event_reasons", g.index)),
            ) {
                let slow = slowdown_bits();
                let mask = s.v.iter().fold(0u64, |m, &x| m | (x as u64 & slow));
                let hits = s.v.iter().filter(|&&m| (m as u64) & slow != 0).count();
                if hits > 0 {
                    out.flags.push(format!(
                        "throttle: gpu{} slowed its clocks for power or heat in {} of {} samples ({})",
                        g.index,
                        hits,
                        s.v.len(),
                        reason_names(mask).join(", ")
                    ));
                }
            }
        }
    }
    if settings.flag_foreign_processes {
        for p in rec.processes.iter().filter(|p| !p.ours) {
            out.flags.push(format!(
                "foreign-process: gpu{} was also used by pid {} ({}{}), which is not part of the trial",
                p.gpu,
                p.pid,
                p.name.as_deref().unwrap_or("not visible from here"),
                p.mem_mib.map(|m| format!(", {m:.0} MiB")).unwrap_or_default()
            ));
        }
    }
    cadence(rec, &mut out);
    if rec.ticks > 0 && rec.ticks <= 2 {
        out.notes.push(format!(
            "telemetry: the trial was shorter than the sampling interval ({:.0} ms), so levels are from its start and end only",
            rec.interval_ms
        ));
    }
    if rec.max_gap_ms > 3.0 * rec.interval_ms && rec.max_gap_ms > rec.interval_ms + 50.0 {
        out.notes.push(format!(
            "telemetry: sampling fell behind (a {:.0} ms gap at a {:.0} ms interval); the machine may be overloaded",
            rec.max_gap_ms, rec.interval_ms
        ));
    }
    out
}

/// The schedule the fast readings achieved, as metrics of the trial, and a flag when it had
/// too few samples, or gaps too long, for the GPU levels it reports.
fn cadence(rec: &Recording, out: &mut Summary) {
    if rec.ticks == 0 {
        return;
    }
    let ms = |v: f64| metric(v, "ms", Some(Better::Lower));
    out.metrics.push((
        "telemetry.samples".into(),
        metric(rec.ticks as f64, "samples", Some(Better::Higher)),
    ));
    out.metrics
        .push(("telemetry.sample_ms.mean".into(), ms(rec.sample_ms_mean)));
    match (rec.gap_ms_median, rec.gap_ms_p99) {
        (Some(med), Some(p99)) => {
            out.metrics
                .push(("telemetry.gap_ms.median".into(), ms(med)));
            out.metrics.push(("telemetry.gap_ms.p99".into(), ms(p99)));
            out.metrics
                .push(("telemetry.gap_ms.max".into(), ms(rec.max_gap_ms)));
        }
        _ => {
            for n in [
                "telemetry.gap_ms.median",
                "telemetry.gap_ms.p99",
                "telemetry.gap_ms.max",
            ] {
                out.missing.push((
                    n.into(),
                    "fewer than two samples were taken on schedule (the trial was shorter than the interval)".into(),
                ));
            }
        }
    }
    let gpu = rec.gpus.iter().any(|g| {
        rec.series
            .keys()
            .any(|k| k.starts_with(&format!("gpu{}.", g.index)))
    });
    if !gpu {
        return;
    }
    if rec.ticks < MIN_SAMPLES {
        out.flags.push(format!(
            "telemetry-sparse: {} sample(s) at a {:.0} ms interval: the GPU's levels (power, clocks, utilisation) are from too few readings to describe the trial",
            rec.ticks, rec.interval_ms
        ));
    } else if let Some(p99) = rec.gap_ms_p99
        && p99 > 2.0 * rec.interval_ms + 10.0
    {
        out.flags.push(format!(
            "telemetry-sparse: 1% of the gaps between samples were {p99:.0} ms or longer at a {:.0} ms interval: short events between them were not seen",
            rec.interval_ms
        ));
    }
}

/// Below this many fast samples a trial's GPU levels are flagged.
pub const MIN_SAMPLES: usize = 4;

/// The shortest span of host readings a CPU utilisation is computed over: ten of the
/// kernel's 10 ms accounting ticks.
const MIN_CPU_SPAN_S: f64 = 0.1;

fn span_s(s: &Series) -> f64 {
    match (s.t.first(), s.t.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    }
}

fn host_metrics(rec: &Recording, out: &mut Summary) {
    let s = |n: &str| usable(rec.series.get(n));
    let why = |n: &str| {
        rec.unavailable
            .get(n)
            .cloned()
            .unwrap_or_else(|| "host telemetry is off".into())
    };
    if rec.series.keys().all(|k| !k.starts_with("host."))
        && rec.unavailable.keys().all(|k| !k.starts_with("host."))
    {
        return;
    }
    match (s("host.cpu_busy_ticks"), s("host.cpu_total_ticks")) {
        // The kernel counts CPU time in ticks of 10 ms: over a shorter span one tick more
        // or less is most of the value, which would be a number but not a measurement.
        (Some(b), Some(_)) if span_s(b) < MIN_CPU_SPAN_S => out.missing.push((
            "host.cpu_util_pct.mean".into(),
            format!(
                "the trial's host readings span {:.1} ms, under the {:.0} ms the kernel's CPU accounting (10 ms ticks) needs for a utilisation",
                span_s(b) * 1e3,
                MIN_CPU_SPAN_S * 1e3
            ),
        )),
        (Some(b), Some(t)) => match (apply(b, Op::Delta(1.0)), apply(t, Op::Delta(1.0))) {
            (Some(busy), Some(total)) if total > 0.0 => out.metrics.push((
                "host.cpu_util_pct.mean".into(),
                metric(100.0 * busy / total, "%", None),
            )),
            _ => out.missing.push((
                "host.cpu_util_pct.mean".into(),
                "the trial was shorter than the kernel's CPU accounting tick".into(),
            )),
        },
        _ => out
            .missing
            .push(("host.cpu_util_pct.mean".into(), why("host.cpu_busy_ticks"))),
    }
    let gauges = [
        ("host.mem_used_mib.peak", "host.mem_used_mib", "MiB"),
        ("host.rss_tree_mib.peak", "host.rss_tree_mib", "MiB"),
    ];
    for (name, src, unit) in gauges {
        match s(src).and_then(|x| apply(x, Op::Max)) {
            Some(v) => out
                .metrics
                .push((name.into(), metric(v, unit, Some(Better::Lower)))),
            None if src == "host.rss_tree_mib" && !rec.unavailable.contains_key(src) => {
                out.missing.push((
                    name.into(),
                    "the trial ended before the first sample of its processes".into(),
                ))
            }
            None => out.missing.push((name.into(), why(src))),
        }
    }
    for (name, src) in [
        ("host.net_rx_mb", "host.net_rx_bytes"),
        ("host.net_tx_mb", "host.net_tx_bytes"),
    ] {
        match s(src).and_then(|x| apply(x, Op::Delta(1e-6))) {
            Some(v) => out.metrics.push((name.into(), metric(v, "MB", None))),
            None => out.missing.push((name.into(), why(src))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::telemetry::{GpuProcess, Kind, SampledGpu};

    fn series(unit: &str, kind: Kind, v: &[f64]) -> Series {
        Series {
            unit: unit.into(),
            kind,
            t: (0..v.len()).map(|i| i as f64 * 0.1).collect(),
            v: v.to_vec(),
        }
    }

    fn one_gpu_recording() -> Recording {
        let mut rec = Recording {
            interval_ms: 100.0,
            ticks: 4,
            max_gap_ms: 101.0,
            gpus: vec![SampledGpu {
                index: 0,
                name: Some("H100".into()),
                uuid: None,
            }],
            ..Default::default()
        };
        let s = &mut rec.series;
        s.insert(
            "gpu0.power_w".into(),
            series("W", Kind::Gauge, &[100.0, 500.0, 700.0, 120.0]),
        );
        s.insert(
            "gpu0.energy_mj".into(),
            series(
                "mJ",
                Kind::Counter,
                &[1_000_000.0, 1_040_000.0, 1_110_000.0, 1_125_000.0],
            ),
        );
        s.insert(
            "gpu0.temp_c".into(),
            series("°C", Kind::Gauge, &[40.0, 55.0, 61.0, 58.0]),
        );
        s.insert(
            "gpu0.clock_event_reasons".into(),
            series("bits", Kind::Bits, &[1.0, 4.0, 0x44 as f64, 0.0]),
        );
        s.insert(
            "gpu0.pcie_rx_bytes".into(),
            series("B", Kind::Counter, &[0.0, 1e9, 2e9, 2.5e9]),
        );
        s.insert(
            "gpu0.mem_used_mib".into(),
            series("MiB", Kind::Gauge, &[500.0, 40_000.0, 41_000.0, 600.0]),
        );
        rec.unavailable.insert(
            "gpu0.mem_temp_c".into(),
            "not supported on this GPU (NVML)".into(),
        );
        rec
    }

    fn value(s: &Summary, name: &str) -> f64 {
        s.metrics
            .iter()
            .find(|m| m.0 == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
            .value
    }

    #[test]
    fn one_gpu_is_reduced_to_named_metrics_with_reasons_for_the_rest() {
        let s = summarize(&one_gpu_recording(), &Telemetry::default());
        assert!((value(&s, "gpu.energy_j") - 125.0).abs() < 1e-9);
        assert!((value(&s, "gpu.power_w.mean") - 355.0).abs() < 1e-9);
        assert_eq!(value(&s, "gpu.power_w.max"), 700.0);
        assert_eq!(value(&s, "gpu.temp_c.max"), 61.0);
        assert_eq!(value(&s, "gpu.pcie_rx_gb"), 2.5);
        assert_eq!(value(&s, "gpu.mem_used_mib.peak"), 41_000.0);
        assert_eq!(value(&s, "gpu.throttled_fraction"), 0.5);
        let missing: Vec<_> = s
            .missing
            .iter()
            .map(|m| (m.0.as_str(), m.1.as_str()))
            .collect();
        assert!(missing.contains(&("gpu.mem_temp_c.max", "not supported on this GPU (NVML)")));
        assert!(missing.contains(&("gpu.util_pct.mean", "no sample was taken")));
        assert_eq!(s.flags.len(), 1);
        assert!(
            s.flags[0].contains("2 of 4 samples (sw_power_cap, hw_thermal_slowdown)"),
            "{}",
            s.flags[0]
        );
        // Nothing absent reads as zero.
        assert!(
            s.metrics
                .iter()
                .all(|m| !m.0.contains("mem_temp") && !m.0.contains("util"))
        );
    }

    #[test]
    fn the_energy_counter_is_carried_to_the_trials_edges_by_power() {
        // The counter read at 0.1 and 0.2 s only (the slow thread's ticks), power at
        // 0–0.3 s: 70 J counted, plus 30 J before its first read and 41 J after its last.
        let mut rec = one_gpu_recording();
        let e = rec.series.get_mut("gpu0.energy_mj").unwrap();
        e.t = vec![0.1, 0.2];
        e.v = vec![1_040_000.0, 1_110_000.0];
        let s = summarize(&rec, &Telemetry::default());
        assert!((value(&s, "gpu.energy_j") - 141.0).abs() < 1e-9);
        // A window inside sees the counter alone; one over the whole trial, the edges too.
        let w = summarize_window(&rec, &[(0.1, 0.2)], "window");
        assert!((value(&w, "window.gpu.energy_j") - 70.0).abs() < 1e-9);
        let w = summarize_window(&rec, &[(0.0, 0.3)], "window");
        assert!((value(&w, "window.gpu.energy_j") - 141.0).abs() < 1e-9);
        // A trial over before the counter's first read: power alone, said so.
        rec.series.remove("gpu0.energy_mj");
        let s = summarize(&rec, &Telemetry::default());
        assert!((value(&s, "gpu.energy_j") - 131.0).abs() < 1e-9);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("ended before the energy counter's first read")),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn energy_falls_back_to_integrated_power_and_says_so() {
        let mut rec = one_gpu_recording();
        rec.series.remove("gpu0.energy_mj");
        rec.unavailable.insert(
            "gpu0.energy_mj".into(),
            "not supported on this GPU (NVML)".into(),
        );
        let s = summarize(&rec, &Telemetry::default());
        // Trapezoids over 0.1 s steps: (100+500)/2 + (500+700)/2 + (700+120)/2 = 1310 → ×0.1.
        assert!((value(&s, "gpu.energy_j") - 131.0).abs() < 1e-9);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("integrated from power samples"))
        );
    }

    #[test]
    fn foreign_processes_are_flagged_and_the_trials_own_are_not() {
        let mut rec = one_gpu_recording();
        rec.processes = vec![
            GpuProcess {
                gpu: 0,
                pid: 10,
                name: Some("bench".into()),
                mem_mib: Some(40_000.0),
                ours: true,
            },
            GpuProcess {
                gpu: 0,
                pid: 77,
                name: Some("python3".into()),
                mem_mib: Some(2048.0),
                ours: false,
            },
        ];
        let s = summarize(&rec, &Telemetry::default());
        let foreign: Vec<_> = s
            .flags
            .iter()
            .filter(|f| f.starts_with("foreign-process"))
            .collect();
        assert_eq!(foreign.len(), 1);
        assert!(foreign[0].contains("pid 77 (python3, 2048 MiB)"));
        let off = Telemetry {
            flag_foreign_processes: false,
            flag_throttle: false,
            ..Default::default()
        };
        assert!(summarize(&rec, &off).flags.is_empty());
    }

    #[test]
    fn without_nvml_every_gpu_metric_is_missing_with_the_reason() {
        let rec = Recording {
            gpu_unavailable: Some("NVML unavailable: no driver".into()),
            ..Default::default()
        };
        let s = summarize(&rec, &Telemetry::default());
        assert!(s.metrics.is_empty());
        assert_eq!(s.missing.len(), 15);
        assert!(
            s.missing
                .iter()
                .all(|m| m.1 == "NVML unavailable: no driver")
        );
    }

    #[test]
    fn two_gpus_are_summed_or_maxed_and_kept_apart() {
        let mut rec = one_gpu_recording();
        rec.gpus.push(SampledGpu {
            index: 1,
            name: None,
            uuid: None,
        });
        let copies: Vec<(String, Series)> = rec
            .series
            .iter()
            .map(|(k, v)| (k.replace("gpu0", "gpu1"), v.clone()))
            .collect();
        rec.series.extend(copies);
        rec.series.get_mut("gpu1.temp_c").unwrap().v[2] = 70.0;
        let s = summarize(&rec, &Telemetry::default());
        assert!((value(&s, "gpu.energy_j") - 250.0).abs() < 1e-9);
        assert_eq!(value(&s, "gpu.temp_c.max"), 70.0);
        assert_eq!(value(&s, "gpu0.temp_c.max"), 61.0);
        assert!((value(&s, "gpu.power_w.mean") - 710.0).abs() < 1e-9);
        assert_eq!(s.flags.len(), 2);
    }

    #[test]
    fn host_counters_become_deltas() {
        let mut rec = Recording {
            interval_ms: 100.0,
            ticks: 3,
            ..Default::default()
        };
        let s = &mut rec.series;
        s.insert(
            "host.cpu_busy_ticks".into(),
            series("ticks", Kind::Counter, &[1000.0, 1050.0, 1100.0]),
        );
        s.insert(
            "host.cpu_total_ticks".into(),
            series("ticks", Kind::Counter, &[5000.0, 5200.0, 5400.0]),
        );
        s.insert(
            "host.net_rx_bytes".into(),
            series("B", Kind::Counter, &[7e6, 7e6, 7e6]),
        );
        s.insert(
            "host.net_tx_bytes".into(),
            series("B", Kind::Counter, &[1e6, 2e6, 4e6]),
        );
        s.insert(
            "host.mem_used_mib".into(),
            series("MiB", Kind::Gauge, &[900.0, 1500.0, 950.0]),
        );
        let out = summarize(&rec, &Telemetry::default());
        assert_eq!(value(&out, "host.cpu_util_pct.mean"), 25.0);
        // Measured zero is reported as zero; it is not a missing value.
        assert_eq!(value(&out, "host.net_rx_mb"), 0.0);
        assert_eq!(value(&out, "host.net_tx_mb"), 3.0);
        assert_eq!(value(&out, "host.mem_used_mib.peak"), 1500.0);
        assert!(out.missing.iter().any(|m| m.0 == "host.rss_tree_mib.peak"));

        // A trial of a millisecond: one tick more or less would be the whole value.
        for name in ["host.cpu_busy_ticks", "host.cpu_total_ticks"] {
            let s = rec.series.get_mut(name).unwrap();
            s.t = vec![0.0, 0.0006, 0.0012];
        }
        let out = summarize(&rec, &Telemetry::default());
        assert!(!out.metrics.iter().any(|m| m.0 == "host.cpu_util_pct.mean"));
        let why = &out
            .missing
            .iter()
            .find(|m| m.0 == "host.cpu_util_pct.mean")
            .unwrap()
            .1;
        assert!(why.contains("span 1.2 ms, under the 100 ms"), "{why}");
    }

    /// A GPU that draws 100 W, then 500 W between 1 s and 2 s, sampled every 10 ms (power)
    /// and 100 ms (the energy counter, which integrates the same power exactly).
    fn stepped() -> Recording {
        let power = |t: f64| {
            if (1.0..2.0).contains(&t) {
                500.0
            } else {
                100.0
            }
        };
        let mut rec = Recording {
            interval_ms: 10.0,
            ticks: 301,
            gpus: vec![SampledGpu {
                index: 0,
                name: None,
                uuid: None,
            }],
            ..Default::default()
        };
        let mut p = Series::new("W", Kind::Gauge);
        for i in 0..=300 {
            let t = i as f64 * 0.01;
            p.push(t, power(t));
        }
        let mut e = Series::new("mJ", Kind::Counter);
        let joules = |t: f64| 100.0 * t + 400.0 * (t.clamp(1.0, 2.0) - 1.0);
        for i in 0..=30 {
            let t = i as f64 * 0.1;
            e.push(t, 1e3 * (5000.0 + joules(t)));
        }
        rec.series.insert("gpu0.power_w".into(), p);
        rec.series.insert("gpu0.energy_mj".into(), e);
        rec
    }

    #[test]
    fn a_window_counts_what_lies_inside_it_and_nothing_else() {
        let rec = stepped();
        // Inside the 500 W step, edges between samples of the counter.
        let w = summarize_window(&rec, &[(1.25, 1.75)], "window");
        assert!((value(&w, "window.gpu.energy_j") - 250.0).abs() < 1e-6);
        assert!((value(&w, "window.gpu.energy_integrated_j") - 250.0).abs() < 1e-6);
        assert!((value(&w, "window.gpu.power_w.mean") - 500.0).abs() < 1e-9);
        // Two visits: 0.5 s at 100 W and 0.5 s at 500 W; the gap between them is not counted.
        let w = summarize_window(&rec, &[(0.25, 0.75), (1.25, 1.75)], "window.two");
        assert!((value(&w, "window.two.gpu.energy_j") - 300.0).abs() < 1e-6);
        assert!((value(&w, "window.two.gpu.energy_integrated_j") - 300.0).abs() < 1e-6);
        assert!((value(&w, "window.two.gpu.power_w.max") - 500.0).abs() < 1e-9);
        // Straddling the step (0.9–1.1 s): 0.1 s at 100 W, 0.1 s at 500 W; the counter is
        // interpolated between its 100 ms samples, power integrated at 10 ms.
        let w = summarize_window(&rec, &[(0.9, 1.1)], "window");
        assert!((value(&w, "window.gpu.energy_j") - 60.0).abs() < 1e-6);
        assert!((value(&w, "window.gpu.energy_integrated_j") - 60.0).abs() < 4.0 + 1e-9);
        // The whole trial is unchanged by windows.
        let all = summarize(&rec, &Telemetry::default());
        assert!((value(&all, "gpu.energy_j") - 700.0).abs() < 1e-6);
        // A window shorter than two intervals says its readings are interpolated.
        let w = summarize_window(&rec, &[(1.501, 1.505)], "window");
        assert!(
            w.notes.iter().any(|n| n.contains("interpolated")),
            "{:?}",
            w.notes
        );
        assert!((value(&w, "window.gpu.energy_j") - 2.0).abs() < 1e-6);
    }
}
