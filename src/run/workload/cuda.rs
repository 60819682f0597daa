//! The little of CUDA the probes need, over cudarc's driver bindings: loading with a clear
//! reason when there is no driver or device, and owners that free what they allocate.
//!
//! cudarc's safe layer tracks events per allocation for multi-stream safety; the probes
//! use one stream and must time exactly the copies and products, so they use the raw
//! driver calls (as a CUDA C benchmark would) behind these small owners.

use cudarc::driver::{result, sys};
use std::ffi::c_void;

pub type Result<T> = std::result::Result<T, super::ProbeError>;

fn drv<T>(what: &str, r: std::result::Result<T, result::DriverError>) -> Result<T> {
    r.map_err(|e| {
        let name = e
            .error_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("{:?}", e.0));
        let text = e
            .error_string()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        super::ProbeError(format!("{what}: {name} ({text})"))
    })
}

/// A current CUDA context on one device, with one non-blocking stream.
pub struct Gpu {
    pub name: String,
    pub uuid: String,
    pub compute_capability: (i32, i32),
    pub stream: sys::CUstream,
    _ctx: std::sync::Arc<cudarc::driver::CudaContext>,
}

/// Loads the driver and opens device `ordinal`; every failure names what is missing.
pub fn open(ordinal: usize) -> Result<Gpu> {
    // cudarc panics when a library cannot be loaded; ask first.
    if !unsafe { sys::is_culib_present() } {
        return Err(
            "no CUDA driver: libcuda.so.1 cannot be loaded (this machine has no NVIDIA driver, or it is not on the library path)".into(),
        );
    }
    drv("CUDA driver initialisation failed", result::init())?;
    let count = drv("cannot count CUDA devices", result::device::get_count())?;
    if count == 0 {
        return Err("no CUDA device: the driver loaded but sees no GPU".into());
    }
    if ordinal >= count as usize {
        return Err(format!(
            "no CUDA device {ordinal}: this machine has {count} (ordinals 0 to {})",
            count - 1
        )
        .into());
    }
    let ctx = drv(
        "cannot create a CUDA context",
        cudarc::driver::CudaContext::new(ordinal),
    )?;
    let dev = ctx.cu_device();
    let name = drv("cannot read the device name", result::device::get_name(dev))?;
    let uuid = drv("cannot read the device UUID", result::device::get_uuid(dev))?;
    let cc = drv(
        "cannot read the compute capability",
        ctx.compute_capability(),
    )?;
    let stream = drv(
        "cannot create a stream",
        result::stream::create(result::stream::StreamKind::NonBlocking),
    )?;
    Ok(Gpu {
        name,
        uuid: format_uuid(&uuid.bytes),
        compute_capability: cc,
        stream,
        _ctx: ctx,
    })
}

/// NVML's spelling of a GPU UUID: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn format_uuid(bytes: &[std::ffi::c_char; 16]) -> String {
    let h: Vec<String> = bytes.iter().map(|b| format!("{:02x}", *b as u8)).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

impl Gpu {
    pub fn synchronize(&self) -> Result<()> {
        drv("stream synchronisation failed", unsafe {
            result::stream::synchronize(self.stream)
        })
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        unsafe {
            let _ = result::stream::synchronize(self.stream);
            let _ = result::stream::destroy(self.stream);
        }
    }
}

/// Device memory.
pub struct DeviceBuffer {
    pub ptr: sys::CUdeviceptr,
    pub bytes: usize,
}

impl DeviceBuffer {
    pub fn new(bytes: usize) -> Result<Self> {
        let ptr = drv(
            &format!("cannot allocate {bytes} bytes on the GPU"),
            unsafe { result::malloc_sync(bytes.max(1)) },
        )?;
        Ok(DeviceBuffer { ptr, bytes })
    }

    pub fn upload(&self, data: &[u8]) -> Result<()> {
        assert!(data.len() <= self.bytes);
        drv("host-to-device copy failed", unsafe {
            result::memcpy_htod_sync(self.ptr, data)
        })
    }

    pub fn download(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        assert!(offset + out.len() <= self.bytes);
        drv("device-to-host copy failed", unsafe {
            result::memcpy_dtoh_sync(out, self.ptr + offset as u64)
        })
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        unsafe {
            let _ = result::free_sync(self.ptr);
        }
    }
}

/// Page-locked host memory: what DMA engines read at full link speed.
pub struct PinnedBuffer {
    ptr: *mut c_void,
    bytes: usize,
}

impl PinnedBuffer {
    pub fn new(bytes: usize) -> Result<Self> {
        let ptr = drv(
            &format!("cannot allocate {bytes} bytes of pinned host memory"),
            unsafe { result::malloc_host(bytes.max(1), 0) },
        )?;
        Ok(PinnedBuffer { ptr, bytes })
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.bytes) }
    }

    pub fn as_slice(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.bytes) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        unsafe {
            let _ = result::free_host(self.ptr);
        }
    }
}

/// A timing event.
pub struct Event(sys::CUevent);

impl Event {
    pub fn new() -> Result<Self> {
        drv(
            "cannot create a CUDA event",
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT),
        )
        .map(Event)
    }

    pub fn record(&self, stream: sys::CUstream) -> Result<()> {
        drv("cannot record a CUDA event", unsafe {
            result::event::record(self.0, stream)
        })
    }

    /// Milliseconds from `self` to `end`, both completed.
    pub fn elapsed_ms(&self, end: &Event) -> Result<f64> {
        drv("cannot read an event time", unsafe {
            result::event::elapsed(self.0, end.0)
        })
        .map(f64::from)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        unsafe {
            let _ = result::event::destroy(self.0);
        }
    }
}

/// Asynchronous copies on the probe's stream.
pub fn copy_h2d(dst: sys::CUdeviceptr, src: &[u8], stream: sys::CUstream) -> Result<()> {
    drv("host-to-device copy failed", unsafe {
        result::memcpy_htod_async(dst, src, stream)
    })
}

pub fn copy_d2h(dst: &mut [u8], src: sys::CUdeviceptr, stream: sys::CUstream) -> Result<()> {
    drv("device-to-host copy failed", unsafe {
        result::memcpy_dtoh_async(dst, src, stream)
    })
}

pub fn copy_d2d(
    dst: sys::CUdeviceptr,
    src: sys::CUdeviceptr,
    bytes: usize,
    stream: sys::CUstream,
) -> Result<()> {
    drv("device-to-device copy failed", unsafe {
        result::memcpy_dtod_async(dst, src, bytes, stream)
    })
}

/// Runs `step` `warmup` times untimed, then `iterations` times with one event recorded
/// before the first and one after each, and returns each step's time, ms.
pub fn time_steps(
    gpu: &Gpu,
    warmup: u64,
    iterations: u64,
    mut step: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        step()?;
    }
    let events = (0..=iterations)
        .map(|_| Event::new())
        .collect::<Result<Vec<_>>>()?;
    gpu.synchronize()?;
    events[0].record(gpu.stream)?;
    for e in &events[1..] {
        step()?;
        e.record(gpu.stream)?;
    }
    gpu.synchronize()?;
    events.windows(2).map(|w| w[0].elapsed_ms(&w[1])).collect()
}
