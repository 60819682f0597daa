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
pub use summary::{Summary, summarize, summarize_window};

pub use crate::define::config::is_telemetry_metric;
pub use crate::trial::{GpuProcess, Kind, Recording, SampledGpu, Series, WindowSpan};

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
