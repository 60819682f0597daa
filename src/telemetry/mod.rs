//! Telemetry during every trial: GPU readings from NVML and host readings from /proc,
//! sampled on a thread of their own, kept as time series and reduced to per-trial metrics
//! (`gpu.energy_j`, `gpu.power_w.mean`, `host.net_rx_mb`...) that reports treat like any
//! other metric. A reading that could not be taken is missing with the reason, never 0.
//!
//! The reduction ([`summarize`]) is pure: it takes a [`Recording`], so it is tested on
//! recorded samples without a GPU.

pub mod gate;
pub mod host;
mod nvml_source;
pub mod sampler;
mod summary;

pub use sampler::{Sampler, Sources};
pub use summary::{Summary, summarize};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A per-trial metric that comes from telemetry (`gpu.*`, `gpuN.*`, `host.*`). Reports
/// summarise these per cell but make no claims with them unless asked: a comparison of
/// every reading against the baseline would bury the ones the experiment is about.
pub fn is_telemetry_metric(name: &str) -> bool {
    crate::config::is_reserved_metric(name) && !crate::config::BUILTIN_METRICS.contains(&name)
}

/// How a series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A level: power, temperature, memory in use.
    Gauge,
    /// A running total: energy, bytes; a trial's share is last − first.
    Counter,
    /// A bit mask (clock-event reasons).
    Bits,
}

/// One reading over time: `t` in seconds from the first sample of the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub unit: String,
    pub kind: Kind,
    pub t: Vec<f64>,
    pub v: Vec<f64>,
}

impl Series {
    pub fn new(unit: &str, kind: Kind) -> Series {
        Series {
            unit: unit.into(),
            kind,
            t: Vec::new(),
            v: Vec::new(),
        }
    }

    pub fn push(&mut self, t: f64, v: f64) {
        self.t.push(t);
        self.v.push(v);
    }
}

/// A GPU process seen during the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub gpu: u32,
    pub pid: u32,
    pub name: Option<String>,
    pub mem_mib: Option<f64>,
    /// Started by the trial (in its process group).
    pub ours: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledGpu {
    pub index: u32,
    pub name: Option<String>,
    pub uuid: Option<String>,
}

/// Everything sampled during one trial.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Recording {
    pub interval_ms: f64,
    /// Samples taken (the first just before the trial starts, the last just after it ends).
    pub ticks: usize,
    /// Longest time between two samples: far above the interval means sampling fell behind.
    pub max_gap_ms: f64,
    /// Time one sample took to read, mean and worst: the sampler's own cost.
    #[serde(default)]
    pub sample_ms_mean: f64,
    #[serde(default)]
    pub sample_ms_max: f64,
    /// Total milliseconds spent on each reading over the trial, to find a costly one.
    #[serde(default)]
    pub cost_ms: BTreeMap<String, f64>,
    /// Series by name: `gpu0.power_w`, `host.net_rx_bytes`...
    pub series: BTreeMap<String, Series>,
    pub gpus: Vec<SampledGpu>,
    pub processes: Vec<GpuProcess>,
    /// Why a series is absent: name → reason (e.g. "not supported on this GPU").
    pub unavailable: BTreeMap<String, String>,
    /// Why there is no GPU telemetry at all, when GPU telemetry was asked for.
    pub gpu_unavailable: Option<String>,
}

impl Recording {
    /// One reading at `t`: a point of its series, or why it could not be read (the first
    /// reason is kept).
    pub fn record(&mut self, name: String, unit: &str, kind: Kind, t: f64, r: Result<f64, String>) {
        match r {
            Ok(v) => self
                .series
                .entry(name)
                .or_insert_with(|| Series::new(unit, kind))
                .push(t, v),
            Err(why) => {
                self.unavailable.entry(name).or_insert(why);
            }
        }
    }
}

/// NVML's clock-event ("throttle") reasons, as nvidia-smi names them.
pub const CLOCK_EVENT_REASONS: [(u64, &str, bool); 9] = [
    // (bit, name, counts as slowing for power or heat)
    (0x1, "gpu_idle", false),
    (0x2, "applications_clocks_setting", false),
    (0x4, "sw_power_cap", true),
    (0x8, "hw_slowdown", true),
    (0x10, "sync_boost", false),
    (0x20, "sw_thermal_slowdown", true),
    (0x40, "hw_thermal_slowdown", true),
    (0x80, "hw_power_brake_slowdown", true),
    (0x100, "display_clock_setting", false),
];

/// The power and thermal reasons in a mask.
pub fn slowdown_bits() -> u64 {
    CLOCK_EVENT_REASONS
        .iter()
        .filter(|r| r.2)
        .fold(0, |m, r| m | r.0)
}

pub fn reason_names(mask: u64) -> Vec<&'static str> {
    CLOCK_EVENT_REASONS
        .iter()
        .filter(|r| mask & r.0 != 0)
        .map(|r| r.1)
        .collect()
}
