//! One GPU's readings per sample, from NVML. A reading the GPU does not support is asked
//! for once and then recorded as unavailable, so unsupported calls cost nothing later.

use super::{Kind, Recording};
use nvml_wrapper::Device;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

// NVML field ids (nvml.h): read together in one call.
const FI_MEMORY_TEMP: u32 = 82;
const FI_POWER_AVERAGE: u32 = 185;
const FI_POWER_INSTANT: u32 = 186;
const FI_PCIE_TX_BYTES: u32 = 197;
const FI_PCIE_RX_BYTES: u32 = 198;

pub struct GpuReader<'n> {
    pub index: u32,
    dev: Device<'n>,
    prefix: String,
    unsupported: BTreeSet<&'static str>,
    /// Whether the GPU has PCIe byte counters; asked on the first slow sample.
    pcie_counters: Option<bool>,
    /// PCIe readings asked for (`[telemetry] pcie`).
    pub pcie: bool,
    /// The PCIe byte counters are 32 bits wide (they wrap every 4.29 GB; seen on an
    /// H200): per counter, its last raw value and the wraps added so far.
    wraps: BTreeMap<&'static str, (f64, f64)>,
}

/// Width of the PCIe byte counters NVML returns.
pub const PCIE_COUNTER_WRAP: f64 = 4_294_967_296.0;

/// How often the PCIe byte counters are read (see [`GpuReader::sample_pcie`]).
pub const PCIE_PERIOD: std::time::Duration = std::time::Duration::from_millis(25);

fn as_f64(v: &SampleValue) -> f64 {
    match *v {
        SampleValue::F64(x) => x,
        SampleValue::U32(x) => x as f64,
        SampleValue::U64(x) => x as f64,
        SampleValue::I64(x) => x as f64,
    }
}

const NOT_SUPPORTED: &str = "not supported on this GPU (NVML)";

impl<'n> GpuReader<'n> {
    pub fn new(index: u32, dev: Device<'n>) -> Self {
        GpuReader {
            index,
            dev,
            prefix: format!("gpu{index}"),
            unsupported: BTreeSet::new(),
            pcie_counters: None,
            pcie: true,
            wraps: BTreeMap::new(),
        }
    }

    fn put(
        &mut self,
        rec: &mut Recording,
        name: &'static str,
        unit: &str,
        kind: Kind,
        t: f64,
        r: Result<f64, NvmlError>,
    ) {
        let r = r
            .map_err(|e| match e {
                NvmlError::NotSupported => {
                    // Not asked again this run.
                    self.unsupported.insert(name);
                    NOT_SUPPORTED.to_string()
                }
                e => format!("NVML: {e}"),
            })
            .map_err(crate::machine::Unavailable);
        rec.record(format!("{}.{name}", self.prefix), unit, kind, t, r);
    }

    fn cost(rec: &mut Recording, name: &str, since: Instant) {
        *rec.cost_ms.entry(format!("nvml.{name}")).or_default() +=
            since.elapsed().as_secs_f64() * 1e3;
    }

    fn wants(&self, name: &str) -> bool {
        !self.unsupported.contains(name)
    }

    /// One reading: skipped once the GPU has said it lacks it, timed, and stamped with
    /// the moment it was read.
    fn read(
        &mut self,
        rec: &mut Recording,
        name: &'static str,
        unit: &str,
        kind: Kind,
        start: Instant,
        f: impl FnOnce(&Device<'n>) -> Result<f64, NvmlError>,
    ) {
        if !self.wants(name) {
            return;
        }
        let t0 = Instant::now();
        let r = f(&self.dev);
        Self::cost(rec, name, t0);
        let t = start.elapsed().as_secs_f64();
        self.put(rec, name, unit, kind, t, r);
    }

    /// The unsupported readings of earlier trials, listed in this trial's recording.
    pub fn carry_unsupported(&self, rec: &mut Recording) {
        for name in &self.unsupported {
            rec.unavailable
                .entry(format!("{}.{name}", self.prefix))
                .or_insert_with(|| NOT_SUPPORTED.into());
        }
        if !self.pcie {
            for name in ["pcie_tx_bytes", "pcie_rx_bytes"] {
                rec.unavailable
                    .entry(format!("{}.{name}", self.prefix))
                    .or_insert_with(|| {
                        "not read: the experiment sets `[telemetry] pcie = false`".into()
                    });
            }
        }
    }

    /// Reads `fields` in one batched NVML call, timed under `cost`. Each field is
    /// (name asked for, series it fills, field id, unit, kind, scale); the name asked for
    /// is what an unsupported reading is remembered by.
    fn read_fields(
        &mut self,
        rec: &mut Recording,
        cost: &str,
        fields: &[(&'static str, &'static str, u32, &str, Kind, f64)],
        start: Instant,
    ) {
        let wanted: Vec<_> = fields.iter().filter(|f| self.wants(f.0)).collect();
        if wanted.is_empty() {
            return;
        }
        let ids: Vec<FieldId> = wanted.iter().map(|f| FieldId(f.2)).collect();
        let t0 = Instant::now();
        let values = self.dev.field_values_for(&ids);
        Self::cost(rec, cost, t0);
        let t = start.elapsed().as_secs_f64();
        match values {
            Ok(values) => {
                for (f, v) in wanted.iter().zip(values) {
                    let mut r = v.and_then(|s| s.value.map(|x| as_f64(&x) * f.5));
                    if let (Ok(x), "pcie_tx_bytes" | "pcie_rx_bytes") = (&mut r, f.1) {
                        *x = self.unwrapped(f.1, *x);
                    }
                    match r {
                        Ok(x) => rec.record(format!("{}.{}", self.prefix, f.1), f.3, f.4, t, Ok(x)),
                        Err(e) => self.put(rec, f.0, f.3, f.4, t, Err(e)),
                    }
                }
            }
            Err(e) => {
                for f in wanted {
                    let key = format!("{}.{}", self.prefix, f.1);
                    rec.record(key, f.3, f.4, t, Err(format!("NVML: {e}").into()));
                }
            }
        }
    }

    /// A 32-bit counter made monotone: a value below the last one is taken as one wrap.
    /// Two wraps between reads cannot be told from one; the summary refuses increments
    /// that come near the counter's width (telemetry/summary.rs).
    fn unwrapped(&mut self, name: &'static str, raw: f64) -> f64 {
        let (last, offset) = self.wraps.entry(name).or_insert((raw, 0.0));
        if raw < *last && *last < PCIE_COUNTER_WRAP {
            *offset += PCIE_COUNTER_WRAP;
        }
        *last = raw;
        raw + *offset
    }

    /// The fast readings, taken at every interval: power (instantaneous, and NVML's own
    /// average), GPU temperature, clocks, utilisation, clock-event reasons: ~20 µs in all
    /// on an H200. What changes slowly or only accumulates is read on the slow thread:
    /// the PCIe byte counters cost ~160 µs each; memory in use averaged ~370 µs a read on
    /// the fast thread under a GEMM load (docs/gpu.md).
    pub fn sample_fast(&mut self, rec: &mut Recording, start: Instant) {
        use Kind::*;
        self.read_fields(
            rec,
            "field_values.power",
            &[
                // The power now (a ~1 ms window), where the driver has it; else below.
                (
                    "power_instant",
                    "power_w",
                    FI_POWER_INSTANT,
                    "W",
                    Gauge,
                    1e-3,
                ),
                // NVML's own average over its window (1 s on Ampere and later): the
                // figure `nvidia-smi` shows.
                (
                    "power_avg_w",
                    "power_avg_w",
                    FI_POWER_AVERAGE,
                    "W",
                    Gauge,
                    1e-3,
                ),
            ],
            start,
        );
        // Drivers without the instantaneous field: nvmlDeviceGetPowerUsage, which is itself
        // an average on Ampere and later; the recording says which it is.
        if !self.wants("power_instant") {
            rec.unavailable
                .entry(format!("{}.power_instant", self.prefix))
                .or_insert_with(|| {
                    "instantaneous power not supported: power_w is NVML's power usage, an average over the driver's window".into()
                });
            self.read(rec, "power_w", "W", Gauge, start, |d| {
                d.power_usage().map(|mw| mw as f64 / 1000.0)
            });
        }
        self.read(rec, "temp_c", "°C", Gauge, start, |d| {
            d.temperature(TemperatureSensor::Gpu).map(f64::from)
        });
        self.read(rec, "sm_clock_mhz", "MHz", Gauge, start, |d| {
            d.clock_info(Clock::SM).map(f64::from)
        });
        self.read(rec, "mem_clock_mhz", "MHz", Gauge, start, |d| {
            d.clock_info(Clock::Memory).map(f64::from)
        });
        if self.wants("util_pct") {
            let t0 = Instant::now();
            let u = self.dev.utilization_rates();
            Self::cost(rec, "utilization", t0);
            let t = start.elapsed().as_secs_f64();
            match u {
                Ok(u) => {
                    self.put(rec, "util_pct", "%", Gauge, t, Ok(u.gpu as f64));
                    self.put(rec, "mem_util_pct", "%", Gauge, t, Ok(u.memory as f64));
                }
                Err(e) => {
                    let reason = e.to_string();
                    self.put(rec, "util_pct", "%", Gauge, t, Err(e));
                    rec.unavailable
                        .entry(format!("{}.mem_util_pct", self.prefix))
                        .or_insert_with(|| format!("NVML: {reason}"));
                }
            }
        }
        self.read(rec, "clock_event_reasons", "bits", Bits, start, |d| {
            d.current_throttle_reasons().map(|b| b.bits() as f64)
        });
    }

    /// Whether the GPU has PCIe byte counters, asked once.
    pub fn has_pcie_counters(&mut self) -> bool {
        if !self.pcie {
            return false;
        }
        *self.pcie_counters.get_or_insert_with(|| {
            self.dev
                .field_values_for(&[FieldId(FI_PCIE_TX_BYTES)])
                .is_ok_and(|v| {
                    v.first()
                        .is_some_and(|x| x.as_ref().is_ok_and(|s| s.value.is_ok()))
                })
        })
    }

    /// The PCIe byte counters, every [`PCIE_PERIOD`]: they are 32 bits wide and wrap every
    /// 4.29 GB, so they are read often enough that no link can carry that much between two
    /// reads (25 ms, plus at most ~16 ms behind an energy read: 4.29 GB in 41 ms is
    /// 105 GB/s, beyond a PCIe 5.0 x16 link's ~63 GB/s), and each wrap is seen.
    pub fn sample_pcie(&mut self, rec: &mut Recording, start: Instant) {
        if !self.has_pcie_counters() {
            return;
        }
        self.read_fields(
            rec,
            "field_values.pcie",
            &[
                (
                    "pcie_tx_bytes",
                    "pcie_tx_bytes",
                    FI_PCIE_TX_BYTES,
                    "B",
                    Kind::Counter,
                    1.0,
                ),
                (
                    "pcie_rx_bytes",
                    "pcie_rx_bytes",
                    FI_PCIE_RX_BYTES,
                    "B",
                    Kind::Counter,
                    1.0,
                ),
            ],
            start,
        );
    }

    /// The slow readings, on a thread of their own so that they never delay a fast one:
    /// memory temperature and memory in use, the energy counter (one read took ~5 ms on an
    /// H100; a counter loses nothing by being read less often) and, without PCIe byte
    /// counters, NVML's throughput call (which itself waits ~20 ms).
    pub fn sample_slow(&mut self, rec: &mut Recording, start: Instant) {
        let has_counters = self.has_pcie_counters();
        self.read_fields(
            rec,
            "field_values.slow",
            &[(
                "mem_temp_c",
                "mem_temp_c",
                FI_MEMORY_TEMP,
                "°C",
                Kind::Gauge,
                1.0,
            )],
            start,
        );
        // nvmlDeviceGetMemoryInfo_v2 (used without the driver's reservation, as
        // `nvidia-smi` shows it) averaged ~0.37 ms a read on the fast thread of a loaded
        // H200, ten times all the other fast readings together (6.5 µs on an idle one).
        self.read(rec, "mem_used_mib", "MiB", Kind::Gauge, start, |d| {
            d.memory_info().map(|m| m.used as f64 / (1u64 << 20) as f64)
        });
        self.read(rec, "energy_mj", "mJ", Kind::Counter, start, |d| {
            d.total_energy_consumption().map(|mj| mj as f64)
        });
        if self.pcie && !has_counters && self.wants("pcie_tx_kbs") {
            let t0 = Instant::now();
            let r = self
                .dev
                .pcie_throughput(PcieUtilCounter::Send)
                .map(f64::from);
            let t = start.elapsed().as_secs_f64();
            self.put(rec, "pcie_tx_kbs", "KB/s", Kind::Gauge, t, r);
            let r = self
                .dev
                .pcie_throughput(PcieUtilCounter::Receive)
                .map(f64::from);
            let t = start.elapsed().as_secs_f64();
            self.put(rec, "pcie_rx_kbs", "KB/s", Kind::Gauge, t, r);
            Self::cost(rec, "pcie_throughput", t0);
        }
    }

    /// Compute processes on this GPU now: (pid, memory MiB).
    pub fn processes(&self) -> Result<Vec<(u32, Option<f64>)>, NvmlError> {
        Ok(self
            .dev
            .running_compute_processes()?
            .into_iter()
            .map(|p| {
                let mem = match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b as f64 / (1u64 << 20) as f64),
                    UsedGpuMemory::Unavailable => None,
                };
                (p.pid, mem)
            })
            .collect())
    }
}
