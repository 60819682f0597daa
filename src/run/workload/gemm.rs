//! `gemm`: cuBLASLt matrix products of fresh random matrices, each timed with CUDA events,
//! after a float64 CPU check of a small product in the same dtype and layout.

use super::cuda::{self, DeviceBuffer, Gpu};
use cudarc::cublaslt::{result as lt, sys as ltsys};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::ffi::c_void;

pub type Result<T> = std::result::Result<T, super::ProbeError>;

/// 32 MiB, as PyTorch gives cuBLAS on Hopper: some of the fastest kernels need it.
const WORKSPACE_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    Fp32,
    Tf32,
    Fp16,
    Bf16,
    Fp8,
}

impl Dtype {
    pub fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "fp32" => Dtype::Fp32,
            "tf32" => Dtype::Tf32,
            "fp16" => Dtype::Fp16,
            "bf16" => Dtype::Bf16,
            "fp8" => Dtype::Fp8,
            _ => return None,
        })
    }

    fn input_bytes(self) -> usize {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => 4,
            Dtype::Fp16 | Dtype::Bf16 => 2,
            Dtype::Fp8 => 1,
        }
    }

    fn output_bytes(self) -> usize {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => 4,
            Dtype::Fp16 | Dtype::Bf16 | Dtype::Fp8 => 2,
        }
    }

    fn input_type(self) -> ltsys::cudaDataType {
        use ltsys::cudaDataType::*;
        match self {
            Dtype::Fp32 | Dtype::Tf32 => CUDA_R_32F,
            Dtype::Fp16 => CUDA_R_16F,
            Dtype::Bf16 => CUDA_R_16BF,
            Dtype::Fp8 => CUDA_R_8F_E4M3,
        }
    }

    /// fp8 products are written in bf16, as in training and inference stacks.
    fn output_type(self) -> ltsys::cudaDataType {
        use ltsys::cudaDataType::*;
        match self {
            Dtype::Fp32 | Dtype::Tf32 => CUDA_R_32F,
            Dtype::Fp16 => CUDA_R_16F,
            Dtype::Bf16 | Dtype::Fp8 => CUDA_R_16BF,
        }
    }

    fn compute_type(self) -> ltsys::cublasComputeType_t {
        use ltsys::cublasComputeType_t::*;
        match self {
            Dtype::Tf32 => CUBLAS_COMPUTE_32F_FAST_TF32,
            _ => CUBLAS_COMPUTE_32F,
        }
    }

    /// Largest accepted |error| relative to Σ|a||b| (the error bound's scale): the input
    /// rounding of tf32 and the output rounding of the 16-bit types, with room for fp32
    /// accumulation in any order.
    fn tolerance(self) -> f64 {
        match self {
            Dtype::Fp32 => 1e-5,
            Dtype::Tf32 => 4e-3,
            Dtype::Fp16 => 2e-3,
            Dtype::Bf16 | Dtype::Fp8 => 1e-2,
        }
    }

    fn encode(self, x: f32, out: &mut [u8]) {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => out.copy_from_slice(&x.to_le_bytes()),
            Dtype::Fp16 => out.copy_from_slice(&half::f16::from_f32(x).to_le_bytes()),
            Dtype::Bf16 => out.copy_from_slice(&half::bf16::from_f32(x).to_le_bytes()),
            Dtype::Fp8 => out[0] = fp8_e4m3_from_unit(x),
        }
    }

    fn decode_input(self, b: &[u8]) -> f64 {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::Fp16 => half::f16::from_le_bytes([b[0], b[1]]).to_f64(),
            Dtype::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f64(),
            Dtype::Fp8 => fp8_e4m3_to_f64(b[0]),
        }
    }

    fn decode_output(self, b: &[u8]) -> f64 {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::Fp16 => half::f16::from_le_bytes([b[0], b[1]]).to_f64(),
            Dtype::Bf16 | Dtype::Fp8 => half::bf16::from_le_bytes([b[0], b[1]]).to_f64(),
        }
    }

    /// cuBLASLt's fp8 kernels need A transposed ("TN"); the others run as stored ("NN").
    fn a_transposed(self) -> bool {
        self == Dtype::Fp8
    }
}

/// An e4m3 byte for x in [-1, 1): 3 mantissa bits, exponent bias 7, never zero.
fn fp8_e4m3_from_unit(x: f32) -> u8 {
    let sign = if x < 0.0 { 0x80 } else { 0 };
    let a = x.abs().clamp(2f32.powi(-9), 0.9375);
    let e = a.log2().floor() as i32;
    if e < -6 {
        // Subnormal: m × 2^-9.
        let m = (a / 2f32.powi(-9)).round().clamp(1.0, 7.0) as u8;
        return sign | m;
    }
    let m = ((a / 2f32.powi(e) - 1.0) * 8.0).round() as i32;
    let (e, m) = if m == 8 { (e + 1, 0) } else { (e, m) };
    sign | (((e + 7) as u8) << 3) | m as u8
}

fn fp8_e4m3_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let e = ((b >> 3) & 0x0f) as i32;
    let m = (b & 0x07) as f64;
    sign * if e == 0 {
        m / 8.0 * 2f64.powi(-6)
    } else {
        (1.0 + m / 8.0) * 2f64.powi(e - 7)
    }
}

#[derive(Debug, Clone)]
pub struct GemmArgs {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    pub dtype: Dtype,
    pub iterations: u64,
    pub warmup: u64,
    pub device: usize,
    pub check: bool,
    pub seed: u64,
}

impl GemmArgs {
    pub fn from_fields(f: &BTreeMap<&'static str, String>) -> Result<GemmArgs> {
        let num = |k: &str| f[k].parse::<u64>().map_err(|e| format!("{k}: {e}"));
        Ok(GemmArgs {
            m: num("m")?,
            n: num("n")?,
            k: num("k")?,
            batch: num("batch")?,
            dtype: Dtype::parse(&f["dtype"]).ok_or("dtype: unknown")?,
            iterations: num("iterations")?,
            warmup: num("warmup_iterations")?,
            device: num("device")? as usize,
            check: f["check"] == "true",
            seed: num("seed")?,
        })
    }

    pub fn flops_per_iteration(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64 * self.batch as f64
    }
}

pub struct GemmOutcome {
    pub device: String,
    pub times_ms: Vec<f64>,
    /// Worst |error| / Σ|a||b| of the check product, and the tolerance it passed.
    pub check: Option<(f64, f64)>,
}

/// `len` random elements in [-1, 1), encoded; parallel over chunks, each chunk its own
/// ChaCha stream, so the content depends on the seed only.
fn random_matrix(dtype: Dtype, len: usize, seed: u64, which: u64) -> Vec<u8> {
    let size = dtype.input_bytes();
    let mut out = vec![0u8; len * size];
    const CHUNK: usize = 1 << 20;
    // One core is left to the telemetry sampler.
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
    // Each thread fills a contiguous span of whole chunks; a chunk's content depends only
    // on its global index, so the matrix is the same whatever the thread count.
    let chunks_per_thread = len.div_ceil(CHUNK).div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (t, span) in out.chunks_mut(chunks_per_thread * CHUNK * size).enumerate() {
            s.spawn(move || {
                for (j, chunk) in span.chunks_mut(CHUNK * size).enumerate() {
                    let i = t * chunks_per_thread + j;
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(which << 40 | i as u64);
                    for el in chunk.chunks_mut(size) {
                        let x: f32 = rng.random_range(-1.0f32..1.0);
                        dtype.encode(x, el);
                    }
                }
            });
        }
    });
    out
}

/// One configured product: layouts, descriptor, algorithm and buffers.
struct Plan {
    handle: ltsys::cublasLtHandle_t,
    desc: ltsys::cublasLtMatmulDesc_t,
    layouts: [ltsys::cublasLtMatrixLayout_t; 3],
    algo: ltsys::cublasLtMatmulAlgo_t,
    workspace: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    d: DeviceBuffer,
    dims: (u64, u64, u64, u64),
    dtype: Dtype,
}

fn lt_err(what: &str) -> impl Fn(lt::CublasError) -> super::ProbeError + '_ {
    move |e| super::ProbeError(format!("cuBLASLt: {what}: {:?}", e.0))
}

impl Plan {
    fn new(
        gpu: &Gpu,
        dtype: Dtype,
        (m, n, k, batch): (u64, u64, u64, u64),
        seed: u64,
    ) -> Result<Plan> {
        if dtype == Dtype::Fp8 && gpu.compute_capability < (8, 9) {
            return Err(format!(
                "fp8 needs compute capability 8.9 or newer; {} is {}.{}",
                gpu.name, gpu.compute_capability.0, gpu.compute_capability.1
            )
            .into());
        }
        if dtype == Dtype::Fp8 && (m % 16 != 0 || n % 16 != 0 || k % 16 != 0) {
            return Err(format!(
                "fp8 products need m, n and k divisible by 16 (cuBLASLt's rule); got {m}×{n}×{k}"
            )
            .into());
        }
        let handle = lt::create_handle().map_err(lt_err("cannot create a handle"))?;
        let a_len = (m * k * batch) as usize;
        let b_len = (k * n * batch) as usize;
        let d_len = (m * n * batch) as usize;
        let a = DeviceBuffer::new(a_len * dtype.input_bytes())?;
        let b = DeviceBuffer::new(b_len * dtype.input_bytes())?;
        let d = DeviceBuffer::new(d_len * dtype.output_bytes())?;
        a.upload(&random_matrix(dtype, a_len, seed, 1))?;
        b.upload(&random_matrix(dtype, b_len, seed, 2))?;
        let workspace = DeviceBuffer::new(WORKSPACE_BYTES)?;
        unsafe {
            let desc =
                lt::create_matmul_desc(dtype.compute_type(), ltsys::cudaDataType::CUDA_R_32F)
                    .map_err(lt_err("cannot create the product descriptor"))?;
            let ta = if dtype.a_transposed() {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N
            };
            let tb = cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N;
            for (attr, op) in [
                (
                    ltsys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                    &ta,
                ),
                (
                    ltsys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                    &tb,
                ),
            ] {
                lt::set_matmul_desc_attribute(
                    desc,
                    attr,
                    op as *const _ as *const c_void,
                    std::mem::size_of_val(op),
                )
                .map_err(lt_err("cannot set the operand layout"))?;
            }
            // Column-major: A is m×k (stored k×m when transposed), B k×n, D m×n.
            let (ar, ac) = if dtype.a_transposed() { (k, m) } else { (m, k) };
            let layouts = [
                (dtype.input_type(), ar, ac, ar, ar * ac),
                (dtype.input_type(), k, n, k, k * n),
                (dtype.output_type(), m, n, m, m * n),
            ]
            .map(|(t, rows, cols, ld, stride)| -> Result<ltsys::cublasLtMatrixLayout_t> {
                let l = lt::create_matrix_layout(t, rows, cols, ld as i64)
                    .map_err(lt_err("cannot describe a matrix"))?;
                if batch > 1 {
                    let count = batch as i32;
                    let stride = stride as i64;
                    lt::set_matrix_layout_attribute(
                        l,
                        ltsys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                        &count as *const _ as *const c_void,
                        std::mem::size_of_val(&count),
                    )
                    .map_err(lt_err("cannot set the batch count"))?;
                    lt::set_matrix_layout_attribute(
                        l,
                        ltsys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                        &stride as *const _ as *const c_void,
                        std::mem::size_of_val(&stride),
                    )
                    .map_err(lt_err("cannot set the batch stride"))?;
                }
                Ok(l)
            });
            let [la, lb, ld] = layouts;
            let layouts = [la?, lb?, ld?];
            let pref = lt::create_matmul_pref().map_err(lt_err("cannot create a preference"))?;
            let ws = WORKSPACE_BYTES as u64;
            lt::set_matmul_pref_attribute(
                pref,
                ltsys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                &ws as *const _ as *const c_void,
                std::mem::size_of_val(&ws),
            )
            .map_err(lt_err("cannot set the workspace size"))?;
            let heuristic = lt::get_matmul_algo_heuristic(
                handle, desc, layouts[0], layouts[1], layouts[2], layouts[2], pref,
            )
            .map_err(|e| {
                format!(
                    "cuBLASLt has no algorithm for a {} product of {m}×{n}×{k} (batch {batch}) on {}: {:?}",
                    match dtype {
                        Dtype::Fp32 => "fp32",
                        Dtype::Tf32 => "tf32",
                        Dtype::Fp16 => "fp16",
                        Dtype::Bf16 => "bf16",
                        Dtype::Fp8 => "fp8",
                    },
                    gpu.name,
                    e.0
                )
            })?;
            let _ = lt::destroy_matmul_pref(pref);
            Ok(Plan {
                handle,
                desc,
                layouts,
                algo: heuristic.algo,
                workspace,
                a,
                b,
                d,
                dims: (m, n, k, batch),
                dtype,
            })
        }
    }

    fn launch(&self, stream: cudarc::driver::sys::CUstream) -> Result<()> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        unsafe {
            lt::matmul(
                self.handle,
                self.desc,
                &alpha as *const _ as *const c_void,
                &beta as *const _ as *const c_void,
                self.a.ptr as *const c_void,
                self.layouts[0],
                self.b.ptr as *const c_void,
                self.layouts[1],
                self.d.ptr as *const c_void,
                self.layouts[2],
                self.d.ptr as *mut c_void,
                self.layouts[2],
                &self.algo,
                self.workspace.ptr as *mut c_void,
                WORKSPACE_BYTES,
                stream as _,
            )
            .map_err(lt_err("the product failed"))
        }
    }

    /// Compares every element of the product with a float64 product of the same inputs.
    fn check(&self, gpu: &Gpu) -> Result<(f64, f64)> {
        self.launch(gpu.stream)?;
        gpu.synchronize()?;
        let (m, n, k, batch) = self.dims;
        let (m, n, k, batch) = (m as usize, n as usize, k as usize, batch as usize);
        let dt = self.dtype;
        let (ib, ob) = (dt.input_bytes(), dt.output_bytes());
        let mut a = vec![0u8; m * k * batch * ib];
        let mut b = vec![0u8; k * n * batch * ib];
        let mut d = vec![0u8; m * n * batch * ob];
        self.a.download(0, &mut a)?;
        self.b.download(0, &mut b)?;
        self.d.download(0, &mut d)?;
        let av: Vec<f64> = a.chunks(ib).map(|c| dt.decode_input(c)).collect();
        let bv: Vec<f64> = b.chunks(ib).map(|c| dt.decode_input(c)).collect();
        let mut worst: f64 = 0.0;
        for p in 0..batch {
            let (ao, bo, dof) = (p * m * k, p * k * n, p * m * n);
            for j in 0..n {
                for i in 0..m {
                    let (mut sum, mut scale) = (0.0f64, 0.0f64);
                    for l in 0..k {
                        let x = if dt.a_transposed() {
                            av[ao + l + i * k]
                        } else {
                            av[ao + i + l * m]
                        };
                        let y = bv[bo + l + j * k];
                        sum += x * y;
                        scale += (x * y).abs();
                    }
                    let got = dt.decode_output(&d[(dof + i + j * m) * ob..][..ob]);
                    if !got.is_finite() {
                        return Err(format!(
                            "the check product has a non-finite element at ({i}, {j})"
                        )
                        .into());
                    }
                    worst = worst.max((got - sum).abs() / scale.max(f64::MIN_POSITIVE));
                }
            }
        }
        if worst > dt.tolerance() {
            return Err(format!(
                "wrong result: the check product differs from the float64 reference by {worst:.2e} of Σ|a·b| (tolerance {:.0e})",
                dt.tolerance()
            ).into());
        }
        Ok((worst, dt.tolerance()))
    }
}

impl Drop for Plan {
    fn drop(&mut self) {
        unsafe {
            for l in self.layouts {
                let _ = lt::destroy_matrix_layout(l);
            }
            let _ = lt::destroy_matmul_desc(self.desc);
            let _ = lt::destroy_handle(self.handle);
        }
    }
}

pub fn run(args: &GemmArgs) -> Result<GemmOutcome> {
    let gpu = cuda::open(args.device)?;
    if !unsafe { cudarc::cublaslt::sys::is_culib_present() } {
        return Err(
            "cuBLASLt cannot be loaded (libcublasLt.so.13 or .12 not on the library path)".into(),
        );
    }
    let check = if args.check {
        // Small, but not a multiple of every tile size, and batched when the real one is.
        let small = (128, 96, 160, args.batch.min(2));
        let plan = Plan::new(&gpu, args.dtype, small, args.seed ^ 0x5eed)?;
        Some(plan.check(&gpu)?)
    } else {
        None
    };
    let plan = Plan::new(
        &gpu,
        args.dtype,
        (args.m, args.n, args.k, args.batch),
        args.seed,
    )?;
    let times_ms = cuda::time_steps(&gpu, args.warmup, args.iterations, || {
        plan.launch(gpu.stream)
    })?;
    Ok(GemmOutcome {
        device: format!("{} ({})", gpu.name, gpu.uuid),
        times_ms,
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_encoding_round_trips_representable_values() {
        for x in [0.5f32, -0.75, 0.0625, 0.9375, -0.001953125, 0.3] {
            let b = fp8_e4m3_from_unit(x);
            let back = fp8_e4m3_to_f64(b);
            assert!(
                (back - x as f64).abs() <= (x.abs() as f64) / 16.0 + 2f64.powi(-10),
                "{x} -> {b:#x} -> {back}"
            );
            assert_ne!(back, 0.0);
        }
        assert_eq!(fp8_e4m3_to_f64(0x38), 1.0);
        assert_eq!(fp8_e4m3_to_f64(0x01), 2f64.powi(-9));
    }

    #[test]
    fn random_matrices_depend_on_the_seed_only_and_are_never_all_zero() {
        let a = random_matrix(Dtype::Bf16, 3_000_000, 5, 1);
        let b = random_matrix(Dtype::Bf16, 3_000_000, 5, 1);
        let c = random_matrix(Dtype::Bf16, 3_000_000, 6, 1);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let zeros = a.chunks(2).filter(|x| x == &[0, 0]).count();
        assert!(zeros < 100, "{zeros} zeros");
        let xs: Vec<f64> = a.chunks(2).map(|x| Dtype::Bf16.decode_input(x)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01 && xs.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}
