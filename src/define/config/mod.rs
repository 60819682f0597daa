//! The experiment file: its validated, plain-data form, and the parser that produces it.
//!
//! Everything downstream (plan, runner, report) sees only these types; spans and raw TOML
//! stay inside `parse`.

mod error;
mod parse;

pub use error::{ConfigError, closest};
pub use parse::{
    BUILTIN_METRICS, BUILTIN_PLACEHOLDERS, is_reserved_metric, is_telemetry_metric,
    parse_experiment, read_experiment,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A validated experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub baseline: String,
    /// Measured trials per cell; with adaptive stopping, the minimum.
    pub trials: u32,
    /// Adaptive stopping: more trials, in rounds over the cells still open, until each
    /// comparison is precise enough. Omitted from the stored form when off, so that files
    /// written before it existed keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Adaptive>,
    /// Trials per cell run before the measured ones and discarded.
    pub warmup: u32,
    pub order: Order,
    #[serde(with = "humantime_serde_compat")]
    pub cooldown: Duration,
    #[serde(with = "humantime_serde_compat::option")]
    pub timeout: Option<Duration>,
    /// Extra attempts for a failed trial before it is recorded as failed for good.
    pub retries: u32,
    /// Bytes of stdout and of stderr kept per trial in the run's logs (0: all); beyond it
    /// the middle is cut, after metrics and requests were read. Like `analysis`, it
    /// decides what is kept, not what runs; omitted from the stored form when default.
    #[serde(skip_serializing_if = "is_default_log_limit")]
    pub log_limit: u64,
    /// How the report compares variants; changing it never invalidates measured trials.
    #[serde(default)]
    pub analysis: crate::stats::compare::Settings,
    /// What is sampled during every trial. Omitted from the stored form when default, so
    /// that files written before telemetry existed keep their hash.
    #[serde(skip_serializing_if = "Telemetry::is_default")]
    pub telemetry: Telemetry,
    /// Conditions to wait for before each trial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// Independent trials side by side, one per lane (a GPU or a CPU set). Omitted from
    /// the stored form when absent, so that files written before lanes keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanes: Option<Lanes>,
    pub variants: Vec<Variant>,
    pub workloads: Vec<Workload>,
    /// Claims written before the run, checked by the report; like `analysis`, they change
    /// how trials are read, never which trials run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hypotheses: Vec<Hypothesis>,
    /// Metrics computed from each trial's metrics (`[[derived]]`); like `analysis`, they
    /// change how trials are read, never which trials run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<crate::define::derived::Derived>,
    /// Directory that relative working directories and commands resolve against: the one
    /// holding the experiment file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[experiment] lanes = { gpus = [0, 1] }`: what each lane runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaneDevices {
    /// NVML indices or UUIDs, one GPU per lane.
    Gpus(Vec<String>),
    /// Every GPU the machine has, counted when the run starts.
    AllGpus,
    /// CPU lists (`"0-7"`, `"8-15,24"`), one per lane.
    Cpus(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lanes {
    pub devices: LaneDevices,
    /// GPU lanes: each lane's processes run on the CPUs of its GPU's NUMA node.
    pub numa: bool,
    /// Trials of the isolation cell run alone (every other lane idle), compared with its
    /// trials beside busy lanes; 0: no isolation check.
    pub isolation: u32,
}

/// Alone trials of the isolation check unless the file says otherwise.
pub const DEFAULT_ISOLATION_TRIALS: u32 = 6;

impl Lanes {
    /// Lanes the file names; `None` for `gpus = "all"`, counted on the machine.
    pub fn declared(&self) -> Option<usize> {
        match &self.devices {
            LaneDevices::Gpus(g) => Some(g.len()),
            LaneDevices::Cpus(c) => Some(c.len()),
            LaneDevices::AllGpus => None,
        }
    }
}

/// 16 MiB of stdout and 16 MiB of stderr per trial.
pub const DEFAULT_LOG_LIMIT: u64 = 16 << 20;

fn is_default_log_limit(v: &u64) -> bool {
    *v == DEFAULT_LOG_LIMIT
}

impl Experiment {
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}

/// `trials = { min, max, ci_width }`: the stopping rule (docs/statistics.md, "Adaptive
/// stopping").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adaptive {
    /// Most measured trials per cell.
    pub max: u32,
    /// A comparison is settled once its ratio's CI lies within ratio ± ci_width.
    pub ci_width: f64,
    /// No new round starts after this much time since the run began.
    #[serde(
        serialize_with = "humantime_serde_compat::option::serialize",
        skip_deserializing
    )]
    pub budget: Option<Duration>,
    /// The metrics whose comparisons decide; default: the workload's own metrics, else
    /// `wall_time`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
}

/// What a `[[hypothesis]]` claims about variant / baseline on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// The ratio lies within 1 ± margin.
    Equivalent,
    /// Better in the metric's direction by more than margin (lower time, higher throughput).
    Faster,
    /// Worse in the metric's direction by more than margin.
    Slower,
    /// The ratio is below 1 + margin.
    RatioBelow,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Claim::Equivalent => "equivalent",
            Claim::Faster => "faster",
            Claim::Slower => "slower",
            Claim::RatioBelow => "ratio_below",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub metric: String,
    pub variant: String,
    /// Only this workload; default: every workload reporting the metric.
    pub workload: Option<String>,
    pub claim: Claim,
    /// Relative: ±margin for `equivalent`, "by more than margin" for `faster`/`slower`,
    /// the bound 1 + margin for `ratio_below`.
    pub margin: f64,
}

/// The order trials are run in; all are reproducible from the experiment's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Every trial of a cell, then the next cell. Cheapest to reason about, most exposed to drift.
    Sequential,
    /// Round-robin: one trial of each cell per round, cells always in file order.
    Interleaved,
    /// Round-robin with each round in a fresh random order (randomized complete blocks):
    /// balanced over time like `interleaved`, without a fixed position for any cell.
    Randomized,
    /// One uniform random permutation of all measured trials.
    Shuffled,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Sequential => "sequential",
            Order::Interleaved => "interleaved",
            Order::Randomized => "randomized",
            Order::Shuffled => "shuffled",
        })
    }
}

/// One of the things compared: an environment or a configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    pub description: Option<String>,
    /// Extra environment variables, `{param}` placeholders allowed in values.
    pub env: BTreeMap<String, String>,
    /// A wrapper the workload's command runs under, e.g. `["taskset", "-c", "0"]`.
    pub prefix: Vec<String>,
    pub workdir: Option<PathBuf>,
    /// Fixed parameter values this variant sets (a toggle, a thread count...).
    pub params: BTreeMap<String, ParamValue>,
    /// A container or chroot the trials run in; none: natively. Omitted from the stored
    /// form when absent, so files written before environments existed keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<crate::define::environment::Environment>,
    /// Linux namespaces of its own for each trial (native or chroot variants); omitted
    /// from the stored form when empty, like `environment`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unshare: Vec<crate::define::environment::Namespace>,
}

/// A parameter value as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub name: String,
    pub description: Option<String>,
    /// Sweep axes: each parameter's values; cells are the full cross product.
    pub params: BTreeMap<String, Vec<ParamValue>>,
    pub kind: WorkloadKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WorkloadKind {
    Command(CommandWorkload),
    /// Built-in probes: each trial runs `rigor probe gemm|copy ...` as its own process, so
    /// a trial is a fresh CUDA context with the runner's timeouts, logs and telemetry, and
    /// variants' wrappers and environment apply as to any command.
    Gemm(CommandWorkload),
    Copy(CommandWorkload),
    /// The OpenAI-compatible load generator, run as `rigor probe llm-serve ...`.
    LlmServe(CommandWorkload),
}

impl WorkloadKind {
    pub fn command(&self) -> &CommandWorkload {
        match self {
            WorkloadKind::Command(c)
            | WorkloadKind::Gemm(c)
            | WorkloadKind::Copy(c)
            | WorkloadKind::LlmServe(c) => c,
        }
    }

    /// The built-in probe this workload runs, if any.
    pub fn probe(&self) -> Option<crate::define::fields::Probe> {
        match self {
            WorkloadKind::Command(_) => None,
            WorkloadKind::Gemm(_) => Some(crate::define::fields::Probe::Gemm),
            WorkloadKind::Copy(_) => Some(crate::define::fields::Probe::Copy),
            WorkloadKind::LlmServe(_) => Some(crate::define::fields::Probe::LlmServe),
        }
    }
}

/// Whether GPU telemetry is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuTelemetry {
    /// When NVML is present; its absence is recorded once per session.
    Auto,
    /// Always; a trial without it records every GPU metric as missing, with the reason.
    On,
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Telemetry {
    #[serde(with = "humantime_serde_compat")]
    pub interval: Duration,
    pub gpu: GpuTelemetry,
    /// NVML indices or UUIDs of the GPUs to sample; empty: every GPU.
    pub gpus: Vec<String>,
    pub host: bool,
    /// Flag trials during which a GPU slowed its clocks for power or heat.
    pub flag_throttle: bool,
    /// Flag trials during which a process outside the trial used a sampled GPU.
    pub flag_foreign_processes: bool,
    /// Read the GPUs' PCIe byte counters. Off saves a short trial the one counter read
    /// its end needs (~0.6 ms on an H200). Left out of the file's hash when on, so that
    /// runs recorded before the setting existed still resume.
    #[serde(skip_serializing_if = "is_true")]
    pub pcie: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            interval: Duration::from_millis(100),
            gpu: GpuTelemetry::Auto,
            gpus: Vec::new(),
            host: true,
            flag_throttle: true,
            flag_foreign_processes: true,
            pcie: true,
        }
    }
}

impl Telemetry {
    pub fn is_default(&self) -> bool {
        *self == Telemetry::default()
    }
}

/// Waited for before every trial (after the cooldown); a trial whose gate does not open
/// within `timeout` fails with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Every sampled GPU below this temperature, °C.
    pub gpu_temp_below_c: Option<f64>,
    /// No compute process on any sampled GPU.
    pub no_foreign_processes: bool,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandWorkload {
    pub command: CommandTemplate,
    pub shell: ShellMode,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<PathBuf>,
    /// Read `{"metric": .., "value": ..}` lines from stdout.
    pub json_metrics: bool,
    pub metrics: Vec<MetricSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CommandTemplate {
    /// A command line; run directly when it has no shell syntax, else through `sh -c`.
    Line(String),
    /// An argv; never goes through a shell.
    Argv(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShellMode {
    /// `sh -c` only when the command line uses shell syntax (pipes, redirects, `$`...).
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

impl fmt::Display for Better {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a trial's samples of one metric become the trial's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    Mean,
    Median,
    Min,
    Max,
    Sum,
    First,
    Last,
}

/// A metric the user declared: extracted by regex, or a JSON-lines metric given a unit and
/// direction and made required.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSpec {
    pub name: String,
    /// A regex with a capture group named `value` (or exactly one unnamed group).
    pub regex: Option<String>,
    pub source: Stream,
    pub unit: Option<String>,
    pub better: Better,
    pub reduce: Reduce,
    /// A trial that does not produce this metric fails (default), instead of merely lacking it.
    pub required: bool,
    /// A count that must not vary (tokens generated, items processed): never a "stub"
    /// warning for being identical; a warning when it differs between trials or variants.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
}

/// Serialises durations as humantime strings so that the canonical hash and stored
/// experiment read naturally.
mod humantime_serde_compat {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub mod option {
        use super::*;
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}
