//! `copy`: host↔device and device↔device bandwidth, per repetition timed with CUDA events,
//! with the content checked afterwards (a copy that moved nothing fails the trial) and the
//! rate set against the PCIe link's limit that NVML reports.

use super::cuda::{self, DeviceBuffer, PinnedBuffer};
use std::collections::BTreeMap;

pub type Result<T> = std::result::Result<T, super::ProbeError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HostToDevice,
    DeviceToHost,
    DeviceToDevice,
}

#[derive(Debug, Clone)]
pub struct CopyArgs {
    pub direction: Direction,
    pub pinned: bool,
    pub size: u64,
    /// Bytes per copy call; equal to `size` for one call.
    pub chunk: u64,
    pub iterations: u64,
    pub warmup: u64,
    pub device: usize,
}

impl CopyArgs {
    pub fn from_fields(f: &BTreeMap<&'static str, String>) -> Result<CopyArgs> {
        let num = |k: &str| f[k].parse::<u64>().map_err(|e| format!("{k}: {e}"));
        let size = crate::define::fields::parse_size(&f["size"]).ok_or("size: not a size")?;
        let chunk =
            match crate::define::fields::parse_size(&f["chunk"]).ok_or("chunk: not a size")? {
                0 => size,
                c => c.min(size),
            };
        Ok(CopyArgs {
            direction: match f["direction"].as_str() {
                "h2d" => Direction::HostToDevice,
                "d2h" => Direction::DeviceToHost,
                _ => Direction::DeviceToDevice,
            },
            pinned: f["memory"] == "pinned",
            size,
            chunk,
            iterations: num("iterations")?,
            warmup: num("warmup_iterations")?,
            device: num("device")? as usize,
        })
    }
}

/// A PCIe link's raw rate per direction, GB/s: lanes × transfer rate × encoding efficiency
/// (8b/10b to gen 2, 128b/130b for gen 3-5, FLIT 242/256 for gen 6 and 7).
pub fn pcie_limit_gbs(generation: u32, width: u32) -> Option<f64> {
    let per_lane = match generation {
        1 => 2.5 * 0.8 / 8.0,
        2 => 5.0 * 0.8 / 8.0,
        3 => 8.0 * 128.0 / 130.0 / 8.0,
        4 => 16.0 * 128.0 / 130.0 / 8.0,
        5 => 32.0 * 128.0 / 130.0 / 8.0,
        6 => 64.0 * 242.0 / 256.0 / 8.0,
        7 => 128.0 * 242.0 / 256.0 / 8.0,
        _ => return None,
    };
    (width > 0).then_some(per_lane * width as f64)
}

pub struct Link {
    pub generation: u32,
    pub width: u32,
    pub limit_gbs: f64,
}

pub struct CopyOutcome {
    pub device: String,
    pub times_ms: Vec<f64>,
    /// For host↔device copies, when NVML describes the link; else why not.
    pub link: std::result::Result<Link, crate::machine::Unavailable>,
}

/// A deterministic non-zero byte pattern, so a copy that moved nothing cannot pass.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1
}

enum Host {
    Pinned(PinnedBuffer),
    Pageable(Vec<u8>),
}

impl Host {
    fn new(bytes: usize, pinned: bool) -> Result<Host> {
        let mut h = if pinned {
            Host::Pinned(PinnedBuffer::new(bytes)?)
        } else {
            Host::Pageable(vec![0u8; bytes])
        };
        // Touch every page so that first-touch faults are not timed.
        for (i, b) in h.as_mut().iter_mut().enumerate() {
            *b = pattern(i);
        }
        Ok(h)
    }

    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            Host::Pinned(p) => p.as_mut_slice(),
            Host::Pageable(v) => v,
        }
    }

    fn as_ref(&self) -> &[u8] {
        match self {
            Host::Pinned(p) => p.as_slice(),
            Host::Pageable(v) => v,
        }
    }
}

fn link_of(uuid: &str) -> std::result::Result<Link, crate::machine::Unavailable> {
    let nvml = crate::machine::gpu::nvml()?;
    let dev = nvml
        .device_by_uuid(uuid)
        .map_err(|e| format!("NVML does not know {uuid}: {e}"))?;
    let generation = dev
        .max_pcie_link_gen()
        .map_err(|e| format!("NVML gives no PCIe generation: {e}"))?;
    let width = dev
        .max_pcie_link_width()
        .map_err(|e| format!("NVML gives no PCIe width: {e}"))?;
    let limit_gbs = pcie_limit_gbs(generation, width)
        .ok_or_else(|| format!("unknown PCIe generation {generation} or width {width}"))?;
    Ok(Link {
        generation,
        width,
        limit_gbs,
    })
}

pub fn run(args: &CopyArgs) -> Result<CopyOutcome> {
    let gpu = cuda::open(args.device)?;
    let size = args.size as usize;
    let chunk = args.chunk as usize;
    let dev = DeviceBuffer::new(size)?;
    let mut host = None;
    let mut src_dev = None;
    match args.direction {
        Direction::HostToDevice => host = Some(Host::new(size, args.pinned)?),
        Direction::DeviceToHost => {
            let h = Host::new(size, args.pinned)?;
            dev.upload(h.as_ref())?;
            // The host side is overwritten by each copy; clear it so the check means something.
            let mut h = h;
            h.as_mut().fill(0);
            host = Some(h);
        }
        Direction::DeviceToDevice => {
            let s = DeviceBuffer::new(size)?;
            let pat: Vec<u8> = (0..size).map(pattern).collect();
            s.upload(&pat)?;
            src_dev = Some(s);
        }
    }
    let offsets: Vec<usize> = (0..size).step_by(chunk).collect();
    let once = |host: &mut Option<Host>| -> Result<()> {
        for &off in &offsets {
            let len = chunk.min(size - off);
            match args.direction {
                Direction::HostToDevice => {
                    let h = host.as_ref().expect("host buffer").as_ref();
                    cuda::copy_h2d(dev.ptr + off as u64, &h[off..off + len], gpu.stream)?
                }
                Direction::DeviceToHost => {
                    let h = host.as_mut().expect("host buffer").as_mut();
                    cuda::copy_d2h(&mut h[off..off + len], dev.ptr + off as u64, gpu.stream)?
                }
                Direction::DeviceToDevice => cuda::copy_d2d(
                    dev.ptr + off as u64,
                    src_dev.as_ref().expect("source buffer").ptr + off as u64,
                    len,
                    gpu.stream,
                )?,
            }
        }
        Ok(())
    };
    let times_ms = cuda::time_steps(&gpu, args.warmup, args.iterations, || once(&mut host))?;

    // Check the destination at spread-out offsets, each chunk's edges included.
    let probes: Vec<usize> = offsets
        .iter()
        .flat_map(|&o| [o, (o + chunk).min(size) - 1])
        .chain((0..64).map(|i| i * (size / 64)))
        .collect();
    for at in probes {
        let got = match args.direction {
            Direction::DeviceToHost => host.as_ref().expect("host buffer").as_ref()[at],
            _ => {
                let mut b = [0u8; 1];
                dev.download(at, &mut b)?;
                b[0]
            }
        };
        if got != pattern(at) {
            return Err(format!(
                "the copy did not deliver: byte {at} of the destination is {got:#04x}, expected {:#04x}",
                pattern(at)
            ).into());
        }
    }
    let link = match args.direction {
        Direction::DeviceToDevice => Err("a device-to-device copy does not cross PCIe".into()),
        _ => link_of(&gpu.uuid),
    };
    Ok(CopyOutcome {
        device: format!("{} ({})", gpu.name, gpu.uuid),
        times_ms,
        link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcie_limits_match_the_published_rates() {
        // Gen3 x16 ≈ 15.75 GB/s, Gen4 x16 ≈ 31.5, Gen5 x16 ≈ 63.0 per direction.
        assert!((pcie_limit_gbs(3, 16).unwrap() - 15.754).abs() < 0.01);
        assert!((pcie_limit_gbs(4, 16).unwrap() - 31.508).abs() < 0.01);
        assert!((pcie_limit_gbs(5, 16).unwrap() - 63.015).abs() < 0.01);
        assert!((pcie_limit_gbs(1, 1).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(pcie_limit_gbs(9, 16), None);
        assert_eq!(pcie_limit_gbs(4, 0), None);
    }

    #[test]
    fn the_pattern_has_no_zero_byte() {
        assert!((0..100_000).all(|i| pattern(i) != 0));
    }
}
