//! Opening NVML with the reason it is unavailable, and describing the machine's GPUs for
//! `rigor env`. NVML is loaded at run time (libnvidia-ml.so.1), so a machine without the
//! NVIDIA driver runs everything else and says why GPU facts are absent.

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::Clock;
use nvml_wrapper::error::NvmlError;
use serde::{Deserialize, Serialize};

/// NVML, or why not, in words a user can act on.
pub fn nvml() -> Result<Nvml, crate::machine::Unavailable> {
    Nvml::init().map_err(|e| {
        crate::machine::Unavailable(match e {
        NvmlError::LibloadingError(_) => {
            "NVML unavailable: libnvidia-ml.so.1 cannot be loaded (no NVIDIA driver on this machine)".to_string()
        }
        NvmlError::DriverNotLoaded => "NVML unavailable: the NVIDIA driver is not loaded".into(),
        NvmlError::NoPermission => "NVML unavailable: no permission to talk to the driver".into(),
        other => format!("NVML unavailable: {other}"),
        })
    })
}

/// NVML for the whole process, initialised on first use: sampling threads hold device
/// handles that borrow it for as long as the process runs.
pub fn shared() -> Result<&'static Nvml, crate::machine::Unavailable> {
    static NVML: std::sync::OnceLock<Result<Nvml, crate::machine::Unavailable>> =
        std::sync::OnceLock::new();
    NVML.get_or_init(nvml).as_ref().map_err(Clone::clone)
}

/// One GPU as `rigor env` and the session record describe it. A field NVML cannot give is
/// absent, and the reason is listed in `unavailable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GpuInfo {
    pub index: u32,
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub pci_bus_id: Option<String>,
    pub memory_mib: Option<u64>,
    pub pcie_generation_max: Option<u32>,
    pub pcie_width_max: Option<u32>,
    pub pcie_generation_current: Option<u32>,
    pub pcie_width_current: Option<u32>,
    pub power_limit_w: Option<f64>,
    pub max_sm_clock_mhz: Option<u32>,
    pub ecc_enabled: Option<bool>,
    pub mig_enabled: Option<bool>,
    pub persistence_mode: Option<bool>,
    pub compute_capability: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GpuSystem {
    pub driver_version: Option<String>,
    pub cuda_driver_version: Option<String>,
    pub nvml_version: Option<String>,
    pub gpus: Vec<GpuInfo>,
    /// Why there is nothing to list, when there is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

fn take<T>(field: &str, r: Result<T, NvmlError>, missing: &mut Vec<String>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(NvmlError::NotSupported) => {
            missing.push(format!("{field}: not supported on this GPU"));
            None
        }
        Err(e) => {
            missing.push(format!("{field}: {e}"));
            None
        }
    }
}

pub fn describe() -> GpuSystem {
    let nvml = match nvml() {
        Ok(n) => n,
        Err(e) => {
            return GpuSystem {
                unavailable: Some(e.to_string()),
                ..Default::default()
            };
        }
    };
    let mut sys = GpuSystem {
        driver_version: nvml.sys_driver_version().ok(),
        cuda_driver_version: nvml
            .sys_cuda_driver_version()
            .ok()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)),
        nvml_version: nvml.sys_nvml_version().ok(),
        ..Default::default()
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            sys.unavailable = Some(format!("NVML cannot count GPUs: {e}"));
            return sys;
        }
    };
    for index in 0..count {
        let mut info = GpuInfo {
            index,
            ..Default::default()
        };
        let dev = match nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                info.unavailable.push(format!("device: {e}"));
                sys.gpus.push(info);
                continue;
            }
        };
        let m = &mut info.unavailable;
        info.name = take("name", dev.name(), m);
        info.uuid = take("uuid", dev.uuid(), m);
        info.pci_bus_id = take("pci", dev.pci_info(), m).map(|p| p.bus_id);
        info.memory_mib = take("memory", dev.memory_info(), m).map(|x| x.total >> 20);
        info.pcie_generation_max = take("pcie generation", dev.max_pcie_link_gen(), m);
        info.pcie_width_max = take("pcie width", dev.max_pcie_link_width(), m);
        info.pcie_generation_current =
            take("current pcie generation", dev.current_pcie_link_gen(), m);
        info.pcie_width_current = take("current pcie width", dev.current_pcie_link_width(), m);
        info.power_limit_w =
            take("power limit", dev.enforced_power_limit(), m).map(|mw| mw as f64 / 1000.0);
        info.max_sm_clock_mhz = take("max sm clock", dev.max_clock_info(Clock::SM), m);
        info.ecc_enabled = take("ecc", dev.is_ecc_enabled(), m).map(|e| e.currently_enabled);
        info.mig_enabled = take("mig", dev.mig_mode(), m).map(|x| x.current == 1);
        info.persistence_mode = take("persistence mode", dev.is_in_persistent_mode(), m);
        info.compute_capability = take("compute capability", dev.cuda_compute_capability(), m)
            .map(|c| format!("{}.{}", c.major, c.minor));
        sys.gpus.push(info);
    }
    sys
}
