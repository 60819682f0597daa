//! The environment an experiment ran in. Each reading either has a value or says why not:
//! an unreadable field is never filled with a plausible-looking default.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reading<T> {
    Known(T),
    Unknown { unavailable: String },
}

impl<T> Reading<T> {
    fn from_result(r: Result<T, crate::machine::Unavailable>) -> Self {
        match r {
            Ok(v) => Reading::Known(v),
            Err(e) => Reading::Unknown {
                unavailable: e.to_string(),
            },
        }
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Reading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reading::Known(v) => write!(f, "{v}"),
            Reading::Unknown { unavailable } => write!(f, "unknown ({unavailable})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GitInfo {
    pub commit: String,
    /// Uncommitted changes in the working tree: the commit alone does not reproduce the code.
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub hostname: Reading<String>,
    pub os: Reading<String>,
    pub kernel: Reading<String>,
    pub arch: String,
    pub cpu_model: Reading<String>,
    pub cpu_logical_cores: Reading<usize>,
    pub cpu_governor: Reading<String>,
    pub memory_total_bytes: Reading<u64>,
    pub load_average_1m: Reading<f64>,
    pub rigor_version: String,
    pub git: Reading<GitInfo>,
    pub experiment_file_sha256: Option<String>,
    /// NVIDIA GPUs as NVML describes them, or why it cannot.
    pub gpu: crate::machine::gpu::GpuSystem,
    pub captured_at: String,
}

fn read(path: &str) -> Result<String, crate::machine::Unavailable> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}").into())
}

fn os_release() -> Result<String, crate::machine::Unavailable> {
    let text = read("/etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| "no PRETTY_NAME in /etc/os-release".into())
}

fn uname() -> Result<(String, String), crate::machine::Unavailable> {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(format!("uname failed: {}", std::io::Error::last_os_error()).into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok((
        field(&u.nodename),
        format!("{} {}", field(&u.sysname), field(&u.release)),
    ))
}

fn cpu_model() -> Result<String, crate::machine::Unavailable> {
    let text = read("/proc/cpuinfo")?;
    text.lines()
        .find(|l| {
            l.starts_with("model name") || l.starts_with("Model") || l.starts_with("cpu model")
        })
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .ok_or_else(|| "no model name in /proc/cpuinfo".into())
}

fn mem_total() -> Result<u64, crate::machine::Unavailable> {
    let text = read("/proc/meminfo")?;
    let line = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .ok_or("no MemTotal in /proc/meminfo")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or("unparsable MemTotal in /proc/meminfo")?;
    Ok(kib * 1024)
}

fn loadavg() -> Result<f64, crate::machine::Unavailable> {
    read("/proc/loadavg")?
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "unparsable /proc/loadavg".into())
}

fn git(dir: &Path) -> Result<GitInfo, crate::machine::Unavailable> {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))
    };
    let head = run(&["rev-parse", "HEAD"])?;
    if !head.status.success() {
        return Err(format!("{} is not in a git repository with commits", dir.display()).into());
    }
    let status = run(&["status", "--porcelain", "--untracked-files=no"])?;
    Ok(GitInfo {
        commit: String::from_utf8_lossy(&head.stdout).trim().to_string(),
        dirty: !status.stdout.is_empty(),
    })
}

/// Reads the environment; `dir` is where the git commit is looked up (the experiment file's
/// directory), `file_sha256` the experiment file's hash when there is one.
pub fn capture(dir: &Path, file_sha256: Option<&str>) -> Environment {
    let un = uname();
    Environment {
        hostname: Reading::from_result(un.clone().map(|u| u.0)),
        os: Reading::from_result(os_release()),
        kernel: Reading::from_result(un.map(|u| u.1)),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model: Reading::from_result(cpu_model()),
        cpu_logical_cores: Reading::from_result(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .map_err(|e| e.to_string().into()),
        ),
        cpu_governor: Reading::from_result(
            read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
                .map(|s| s.trim().to_string()),
        ),
        memory_total_bytes: Reading::from_result(mem_total()),
        load_average_1m: Reading::from_result(loadavg()),
        rigor_version: env!("CARGO_PKG_VERSION").to_string(),
        git: Reading::from_result(git(dir)),
        experiment_file_sha256: file_sha256.map(str::to_string),
        gpu: crate::machine::gpu::describe(),
        captured_at: crate::machine::now_rfc3339(),
    }
}

impl Environment {
    /// `(label, value)` lines for display.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("hostname", self.hostname.to_string()),
            ("os", self.os.to_string()),
            ("kernel", self.kernel.to_string()),
            ("arch", self.arch.clone()),
            ("cpu", self.cpu_model.to_string()),
            ("logical cores", self.cpu_logical_cores.to_string()),
            ("cpu governor", self.cpu_governor.to_string()),
            (
                "memory",
                match &self.memory_total_bytes {
                    Reading::Known(b) => format!("{:.1} GiB", *b as f64 / (1u64 << 30) as f64),
                    other => other.to_string(),
                },
            ),
            ("load average (1 min)", self.load_average_1m.to_string()),
            ("rigor", self.rigor_version.clone()),
            (
                "git",
                match &self.git {
                    Reading::Known(g) => format!(
                        "{}{}",
                        g.commit,
                        if g.dirty {
                            " (uncommitted changes)"
                        } else {
                            ""
                        }
                    ),
                    Reading::Unknown { unavailable } => format!("unknown ({unavailable})"),
                },
            ),
        ];
        if let Some(h) = &self.experiment_file_sha256 {
            v.push(("experiment file sha256", h.clone()));
        }
        v.extend(gpu_lines(&self.gpu));
        v.push(("captured at", self.captured_at.clone()));
        v
    }
}

/// The GPU lines of a machine description.
pub fn gpu_lines(g: &crate::machine::gpu::GpuSystem) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    match &g.unavailable {
        Some(why) if g.gpus.is_empty() => v.push(("gpus", format!("none listed ({why})"))),
        _ => {
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
            v.push((
                "nvidia driver",
                format!(
                    "{} (CUDA {})",
                    opt(&g.driver_version),
                    opt(&g.cuda_driver_version)
                ),
            ));
            for gpu in &g.gpus {
                v.push(("gpu", describe_gpu(gpu)));
            }
            if g.gpus.is_empty() {
                v.push(("gpus", "none: NVML sees no GPU".into()));
            }
        }
    }
    v
}

fn describe_gpu(g: &crate::machine::gpu::GpuInfo) -> String {
    let flag = |b: Option<bool>| match b {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    };
    let mut parts = vec![format!(
        "{}: {}",
        g.index,
        g.name.as_deref().unwrap_or("unknown model")
    )];
    if let Some(u) = &g.uuid {
        parts.push(u.clone());
    }
    if let Some(m) = g.memory_mib {
        parts.push(format!("{m} MiB"));
    }
    if let (Some(gen_), Some(w)) = (g.pcie_generation_max, g.pcie_width_max) {
        let now = match (g.pcie_generation_current, g.pcie_width_current) {
            (Some(cg), Some(cw)) => format!(" (now gen{cg} x{cw})"),
            _ => String::new(),
        };
        parts.push(format!("PCIe gen{gen_} x{w}{now}"));
    }
    if let Some(p) = g.power_limit_w {
        parts.push(format!("power limit {p:.0} W"));
    }
    if let Some(c) = &g.compute_capability {
        parts.push(format!("compute {c}"));
    }
    parts.push(format!(
        "ECC {}, MIG {}, persistence {}",
        flag(g.ecc_enabled),
        flag(g.mig_enabled),
        flag(g.persistence_mode)
    ));
    if !g.unavailable.is_empty() {
        parts.push(format!("unavailable: {}", g.unavailable.join("; ")));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine_and_explains_what_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let env = capture(dir.path(), Some("abc"));
        assert!(matches!(env.kernel, Reading::Known(ref k) if k.starts_with("Linux")));
        assert!(matches!(env.memory_total_bytes, Reading::Known(b) if b > 0));
        match &env.git {
            Reading::Unknown { unavailable } => assert!(
                unavailable.contains("not in a git repository")
                    || unavailable.contains("cannot run git")
            ),
            Reading::Known(_) => panic!("a fresh temp dir has no commit"),
        }
        let json = serde_json::to_value(&env).unwrap();
        assert!(json["git"]["unavailable"].is_string());
        assert_eq!(json["experiment_file_sha256"], "abc");
        // This machine (and CI) has no NVIDIA driver: the reason is recorded, not zeros.
        if !std::path::Path::new("/proc/driver/nvidia").exists() {
            let why = json["gpu"]["unavailable"].as_str().unwrap();
            assert!(why.contains("NVML unavailable"), "{why}");
            assert_eq!(json["gpu"]["gpus"], serde_json::json!([]));
        }
    }
}
