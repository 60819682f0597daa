//! The machine a run happens on, as every session records it: OS, kernel, CPU, memory,
//! GPUs (through NVML, loaded at run time), driver, git commit. A leaf: it knows nothing
//! of experiments.

pub mod envinfo;
pub mod gpu;

crate::reason_error!(
    /// Why a reading could not be taken, in words a user can act on. A reading is
    /// `Result<T, Unavailable>`: never a plausible-looking default in its place.
    Unavailable
);

crate::reason_error!(
    /// rigor's own executable could not be found (probes and `unshare` variants run it).
    NoOwnExe
);

/// This binary's path (probes and `unshare` variants run it again), looked up once.
pub fn own_exe() -> Result<&'static std::path::Path, NoOwnExe> {
    static EXE: std::sync::OnceLock<Result<std::path::PathBuf, NoOwnExe>> =
        std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        std::env::current_exe()
            .map_err(|e| NoOwnExe(format!("cannot find rigor's own executable: {e}")))
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// Now, as RFC 3339 with milliseconds (UTC): how every record says when.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
