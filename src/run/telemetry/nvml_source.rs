//! One GPU's readings per sample, from NVML. A reading the GPU does not support is asked
//! for once and then recorded as unavailable, so unsupported calls cost nothing later.

use super::{Kind, Recording};
use nvml_wrapper::Device;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;
use std::collections::BTreeSet;

// NVML field ids (nvml.h): read together in one call.
const FI_MEMORY_TEMP: u32 = 82;
const FI_PCIE_TX_BYTES: u32 = 197;
const FI_PCIE_RX_BYTES: u32 = 198;

pub struct GpuReader<'n> {
    pub index: u32,
    dev: Device<'n>,
    prefix: String,
    unsupported: BTreeSet<&'static str>,
}

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

    fn cost(rec: &mut Recording, name: &str, since: std::time::Instant) {
        *rec.cost_ms.entry(format!("nvml.{name}")).or_default() +=
            since.elapsed().as_secs_f64() * 1e3;
    }

    fn wants(&self, name: &str) -> bool {
        !self.unsupported.contains(name)
    }

    /// One reading: skipped once the GPU has said it lacks it, timed, recorded.
    fn read(
        &mut self,
        rec: &mut Recording,
        name: &'static str,
        unit: &str,
        kind: Kind,
        t: f64,
        f: impl FnOnce(&Device<'n>) -> Result<f64, NvmlError>,
    ) {
        if !self.wants(name) {
            return;
        }
        let t0 = std::time::Instant::now();
        let r = f(&self.dev);
        Self::cost(rec, name, t0);
        self.put(rec, name, unit, kind, t, r);
    }

    /// One sample. `slow` samples also read what is costly or changes slowly.
    pub fn sample(&mut self, rec: &mut Recording, t: f64, slow: bool) {
        use Kind::*;
        // The run's reader remembers what the GPU lacks; each trial's recording says so.
        if rec.ticks == 0 {
            for name in &self.unsupported {
                rec.unavailable
                    .entry(format!("{}.{name}", self.prefix))
                    .or_insert_with(|| NOT_SUPPORTED.into());
            }
        }
        self.read(rec, "power_w", "W", Gauge, t, |d| {
            d.power_usage().map(|mw| mw as f64 / 1000.0)
        });
        // The energy counter is cumulative, so reading it on slow samples only (the first
        // and last are slow) loses nothing; one read took ~5 ms on an H100, 25× the rest.
        if slow {
            self.read(rec, "energy_mj", "mJ", Counter, t, |d| {
                d.total_energy_consumption().map(|mj| mj as f64)
            });
        }
        self.read(rec, "temp_c", "°C", Gauge, t, |d| {
            d.temperature(TemperatureSensor::Gpu).map(f64::from)
        });
        let fields = [
            ("mem_temp_c", FI_MEMORY_TEMP, "°C", Gauge),
            ("pcie_tx_bytes", FI_PCIE_TX_BYTES, "B", Counter),
            ("pcie_rx_bytes", FI_PCIE_RX_BYTES, "B", Counter),
        ];
        let wanted: Vec<_> = fields.iter().filter(|f| self.wants(f.0)).collect();
        if !wanted.is_empty() {
            let ids: Vec<FieldId> = wanted.iter().map(|f| FieldId(f.1)).collect();
            let t0 = std::time::Instant::now();
            let values = self.dev.field_values_for(&ids);
            Self::cost(rec, "field_values", t0);
            match values {
                Ok(values) => {
                    for (f, v) in wanted.iter().zip(values) {
                        let r = v.and_then(|s| s.value.map(|x| as_f64(&x)));
                        self.put(rec, f.0, f.2, f.3, t, r);
                    }
                }
                Err(e) => {
                    for f in wanted {
                        let key = format!("{}.{}", self.prefix, f.0);
                        rec.record(key, f.2, f.3, t, Err(format!("NVML: {e}").into()));
                    }
                }
            }
        }
        // Without byte counters, NVML's throughput call (which itself waits ~20 ms) is the
        // fallback; it is read on slow samples only.
        if slow && !self.wants("pcie_tx_bytes") && self.wants("pcie_tx_kbs") {
            let t0 = std::time::Instant::now();
            let r = self
                .dev
                .pcie_throughput(PcieUtilCounter::Send)
                .map(f64::from);
            self.put(rec, "pcie_tx_kbs", "KB/s", Gauge, t, r);
            let r = self
                .dev
                .pcie_throughput(PcieUtilCounter::Receive)
                .map(f64::from);
            self.put(rec, "pcie_rx_kbs", "KB/s", Gauge, t, r);
            Self::cost(rec, "pcie_throughput", t0);
        }
        self.read(rec, "sm_clock_mhz", "MHz", Gauge, t, |d| {
            d.clock_info(Clock::SM).map(f64::from)
        });
        self.read(rec, "mem_clock_mhz", "MHz", Gauge, t, |d| {
            d.clock_info(Clock::Memory).map(f64::from)
        });
        if self.wants("util_pct") {
            let t0 = std::time::Instant::now();
            let u = self.dev.utilization_rates();
            Self::cost(rec, "utilization", t0);
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
        self.read(rec, "mem_used_mib", "MiB", Gauge, t, |d| {
            d.memory_info().map(|m| m.used as f64 / (1u64 << 20) as f64)
        });
        self.read(rec, "clock_event_reasons", "bits", Bits, t, |d| {
            d.current_throttle_reasons().map(|b| b.bits() as f64)
        });
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
