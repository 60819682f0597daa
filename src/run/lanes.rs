//! Lanes: what each of an experiment's side-by-side trial slots runs on. A GPU lane sees
//! only its GPU (`CUDA_VISIBLE_DEVICES` set to its UUID, which no enumeration order can
//! change), is sampled and gated on it alone, and optionally runs on the CPUs of its GPU's
//! NUMA node; a CPU lane runs on its CPU set. The pinning is the lane thread's own CPU
//! affinity, which every process it starts inherits.

use crate::define::config::{Experiment, LaneDevices};

/// One lane as the runner uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub index: u32,
    /// What it is, stored with every trial: `gpu 1 (GPU-5d1c…)`, `cpus 8-15`.
    pub device: String,
    /// NVML index of its GPU: its telemetry and its gate look at this GPU only.
    pub gpu: Option<u32>,
    /// The GPU's UUID: `CUDA_VISIBLE_DEVICES`, and containers' GPU selection.
    pub gpu_uuid: Option<String>,
    /// CPUs its processes run on.
    pub cpus: Option<Vec<usize>>,
}

impl Lane {
    /// Variables every trial of the lane gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("RIGOR_LANE".to_string(), self.index.to_string())];
        if let Some(u) = &self.gpu_uuid {
            env.push(("CUDA_VISIBLE_DEVICES".into(), u.clone()));
        }
        env
    }
}

crate::reason_error!(
    /// Lanes the machine cannot give.
    LaneError
);

/// The experiment's lanes on this machine; empty without `lanes`.
pub fn resolve(exp: &Experiment) -> Result<Vec<Lane>, LaneError> {
    let Some(spec) = &exp.lanes else {
        return Ok(Vec::new());
    };
    match &spec.devices {
        LaneDevices::Cpus(sets) => {
            let online = online_cpus();
            sets.iter()
                .enumerate()
                .map(|(i, s)| {
                    let cpus = crate::define::fields::parse_cpu_list(s)
                        .ok_or_else(|| LaneError(format!("`{s}` is not a CPU list")))?;
                    if let Some(online) = &online
                        && let Some(c) = cpus.iter().find(|c| !online.contains(c))
                    {
                        return Err(LaneError(format!(
                            "lane {i} names CPU {c}, which this machine does not have online ({} CPUs: {})",
                            online.len(),
                            fmt_cpus(online)
                        )));
                    }
                    Ok(Lane {
                        index: i as u32,
                        device: format!("cpus {}", fmt_cpus(&cpus)),
                        gpu: None,
                        gpu_uuid: None,
                        cpus: Some(cpus),
                    })
                })
                .collect()
        }
        LaneDevices::Gpus(_) | LaneDevices::AllGpus => gpu_lanes(exp, spec.numa),
    }
}

fn gpu_lanes(exp: &Experiment, numa: bool) -> Result<Vec<Lane>, LaneError> {
    let lanes = exp.lanes.as_ref().map(|l| &l.devices);
    let nvml = crate::machine::gpu::shared().map_err(|e| {
        LaneError(format!(
            "lanes name GPUs, but {e}; run on a machine with the NVIDIA driver, or use CPU lanes"
        ))
    })?;
    let count = nvml
        .device_count()
        .map_err(|e| LaneError(format!("NVML cannot count the GPUs: {e}")))?;
    let ids: Vec<String> = match lanes {
        Some(LaneDevices::Gpus(g)) => g.clone(),
        _ => (0..count).map(|i| i.to_string()).collect(),
    };
    if ids.is_empty() {
        return Err(LaneError("NVML sees no GPU to make a lane of".into()));
    }
    let mut out = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        // A MIG instance's NVML index is its index within its parent GPU, which telemetry
        // and the gate would read as a different, whole GPU.
        if id.starts_with("MIG-") {
            return Err(LaneError(format!(
                "lane {k}: {id} is a MIG instance; lanes are whole GPUs for now (their telemetry and gate read whole GPUs)"
            )));
        }
        let device = match id.parse::<u32>() {
            Ok(i) if i < count => nvml.device_by_index(i),
            Ok(i) => {
                return Err(LaneError(format!(
                    "lane {k}: GPU {i} does not exist (NVML sees {count}); `rigor env` lists them"
                )));
            }
            Err(_) => nvml.device_by_uuid(id.as_str()),
        }
        .map_err(|e| LaneError(format!("lane {k}: GPU {id}: {e}")))?;
        let index = device
            .index()
            .map_err(|e| LaneError(format!("lane {k}: GPU {id} has no index: {e}")))?;
        let uuid = device
            .uuid()
            .map_err(|e| LaneError(format!("lane {k}: GPU {id} has no UUID: {e}")))?;
        if out.iter().any(|l: &Lane| l.gpu == Some(index)) {
            return Err(LaneError(format!(
                "lane {k}: GPU {id} is GPU {index}, which an earlier lane has"
            )));
        }
        let cpus = if numa {
            let bus = device
                .pci_info()
                .map_err(|e| LaneError(format!("lane {k}: GPU {index}'s PCI address: {e}")))?
                .bus_id;
            Some(numa_cpus(&bus).map_err(|e| {
                LaneError(format!(
                    "lane {k}: the CPUs near GPU {index} ({bus}): {e}; remove `numa` to run unpinned"
                ))
            })?)
        } else {
            None
        };
        let mut device = format!("gpu {index} ({uuid})");
        if let Some(c) = &cpus {
            device.push_str(&format!(", cpus {}", fmt_cpus(c)));
        }
        out.push(Lane {
            index: k as u32,
            device,
            gpu: Some(index),
            gpu_uuid: Some(uuid),
            cpus,
        });
    }
    Ok(out)
}

/// The CPUs of a PCI device's NUMA node, from sysfs. NVML writes the domain with 8 hex
/// digits (`00000000:19:00.0`); sysfs with 4.
fn numa_cpus(bus_id: &str) -> Result<Vec<usize>, String> {
    let bus = bus_id.to_ascii_lowercase();
    let short = bus.get(bus.len().saturating_sub(12)..).unwrap_or(&bus);
    let path = format!("/sys/bus/pci/devices/{short}/local_cpulist");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    crate::define::fields::parse_cpu_list(&text)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("{path} holds no CPU list: `{}`", text.trim()))
}

fn online_cpus() -> Option<Vec<usize>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    crate::define::fields::parse_cpu_list(&text)
}

/// `0-3,8`: consecutive CPUs as ranges.
pub fn fmt_cpus(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}-{}", cpus[i], cpus[j])
        } else {
            cpus[i].to_string()
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Pins the calling thread, and so every process and thread it starts from now on, to
/// `cpus`.
pub fn pin_this_thread(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes within it for indices
    // below CPU_SETSIZE, which the check keeps to.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(std::io::Error::other(format!(
                    "CPU {c} is beyond what an affinity mask holds"
                )));
            }
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_and_print_as_the_kernel_writes_them() {
        let c = crate::define::fields::parse_cpu_list("8-11, 2,0-1,3\n").unwrap();
        assert_eq!(c, [0, 1, 2, 3, 8, 9, 10, 11]);
        assert_eq!(fmt_cpus(&c), "0-3,8-11");
        assert_eq!(fmt_cpus(&[5]), "5");
        for bad in ["", "a", "3-1", "1,,2", "-1", "70000"] {
            assert!(
                crate::define::fields::parse_cpu_list(bad).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_gpu_lane_sees_its_gpu_by_uuid() {
        let lane = Lane {
            index: 1,
            device: "gpu 3 (GPU-x)".into(),
            gpu: Some(3),
            gpu_uuid: Some("GPU-x".into()),
            cpus: None,
        };
        assert_eq!(
            lane.env(),
            [
                ("RIGOR_LANE".to_string(), "1".to_string()),
                ("CUDA_VISIBLE_DEVICES".to_string(), "GPU-x".to_string())
            ]
        );
    }
}
