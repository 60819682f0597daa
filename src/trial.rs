//! What one trial leaves behind, as the runner records it and the store keeps it: its
//! status and log range, its metric values, every request of an `llm-serve` load, and its
//! telemetry. Plain data, shared by the stages that make, store and read it.

use crate::define::config::Better;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    Ok,
    Failed,
    Timeout,
}

impl TrialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Ok => "ok",
            TrialStatus::Failed => "failed",
            TrialStatus::Timeout => "timeout",
        }
    }
    pub fn parse(s: &str) -> TrialStatus {
        match s {
            "ok" => TrialStatus::Ok,
            "timeout" => TrialStatus::Timeout,
            _ => TrialStatus::Failed,
        }
    }
}

/// A trial's part of a run's log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRange {
    pub path: String,
    pub offset: u64,
    pub len: u64,
}

impl LogRange {
    /// The trial's output, read back from the log.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&self.path)?;
        let mut buf = vec![0; self.len as usize];
        f.read_exact_at(&mut buf, self.offset)?;
        Ok(buf)
    }
}

impl std::fmt::Display for LogRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (bytes {}..{})",
            self.path,
            self.offset,
            self.offset + self.len
        )
    }
}

/// One metric of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub value: f64,
    pub unit: Option<String>,
    pub better: Option<Better>,
    /// Every observation in the trial when there was more than one (samples).
    pub samples: Vec<f64>,
}

/// One request, as the client saw it. Times are seconds from the start of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RequestRecord {
    pub index: usize,
    /// Warm-up requests are recorded but excluded from every metric.
    pub warmup: bool,
    /// When the load schedule wanted it sent (rate mode), or when a worker took it.
    pub scheduled_s: f64,
    pub sent_s: f64,
    /// Arrival of the first chunk carrying generated content.
    pub first_token_s: Option<f64>,
    pub end_s: f64,
    /// Arrival times of the chunks that carried generated content.
    pub chunks_s: Vec<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// HTTP status, when a response started.
    pub status: Option<u16>,
    /// None: succeeded. Else a kind: `connect`, `send`, `http`, `timeout`, `stalled`,
    /// `stream`, `body`, `empty`; or `cancelled` (in flight when a duration-bound load
    /// ended: neither ok nor failed).
    pub error: Option<String>,
    pub message: Option<String>,
    /// Sends repeated because the first provably never reached the server (see
    /// `client::send`); the times are those of the send that was answered.
    #[serde(default)]
    pub retries: u32,
    /// When a retried request was first sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sent_s: Option<f64>,
    /// Time to open the connection this request went out on (None: a reused one). Not
    /// part of TTFT or E2E, which start when the request is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// Arrival of the first event of the stream, whatever it carried (a role-only chunk
    /// counts): when the server first answered; older vLLM clients timed TTFT to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Reasoning models: arrival of the first chunk carrying reasoning (a
    /// `reasoning_content` or `reasoning` delta) and of the first carrying the answer
    /// (`content` or `text`). Both count in `chunks_s` and TTFT, which take whichever came
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_reasoning_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_answer_s: Option<f64>,
    /// How many of `chunks_s` carried reasoning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_chunks: u32,
    /// Prompt tokens the server took from its cache instead of computing them: OpenAI's
    /// `usage.prompt_tokens_details.cached_tokens`, or llama.cpp's `timings.cache_n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Reasoning tokens, when the server's usage says (`completion_tokens_details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// What the server left out or did unusually, none of it a failure: `no_done` (the
    /// stream ended after a finish reason without `[DONE]`), `no_usage`, `usage_zero`
    /// (usage said 0 completion tokens although text arrived; the count is not used),
    /// `resent_unsent`, `resent_closed_keepalive`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Where the token counts came from: `server` (its `usage`) or `tokenizer` (local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_from: Option<String>,
    /// The generated text, kept only when a local tokenizer may need to count it.
    #[serde(skip)]
    pub generated: String,
    /// The answer's text, without reasoning: a conversation's next turn carries it.
    #[serde(skip)]
    pub reply: String,
    /// Multi-turn loads: the conversation (0-based) and its turn (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn cancelled(&self) -> bool {
        self.error.as_deref() == Some("cancelled")
    }
}

/// How a series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A level: power, temperature, memory in use.
    Gauge,
    /// A running total: energy, bytes; a trial's share is last − first.
    Counter,
    /// A bit mask (clock-event reasons).
    Bits,
}

/// One reading over time: `t` in seconds from the first sample of the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub unit: String,
    pub kind: Kind,
    pub t: Vec<f64>,
    pub v: Vec<f64>,
}

impl Series {
    pub fn new(unit: &str, kind: Kind) -> Series {
        Series {
            unit: unit.into(),
            kind,
            t: Vec::new(),
            v: Vec::new(),
        }
    }

    pub fn push(&mut self, t: f64, v: f64) {
        self.t.push(t);
        self.v.push(v);
    }
}

/// A GPU process seen during the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub gpu: u32,
    pub pid: u32,
    pub name: Option<String>,
    pub mem_mib: Option<f64>,
    /// Started by the trial (in its process group).
    pub ours: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledGpu {
    pub index: u32,
    pub name: Option<String>,
    pub uuid: Option<String>,
}

/// Everything sampled during one trial.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Recording {
    pub interval_ms: f64,
    /// Samples taken (the first just before the trial starts, the last just after it ends).
    pub ticks: usize,
    /// Longest time between two samples: far above the interval means sampling fell behind.
    pub max_gap_ms: f64,
    /// Median and 99th percentile of the time between two fast samples (the schedule's
    /// achieved cadence); absent below two samples.
    #[serde(default)]
    pub gap_ms_median: Option<f64>,
    #[serde(default)]
    pub gap_ms_p99: Option<f64>,
    /// Samples of the slow readings (energy counter, processes, host), and their longest gap.
    #[serde(default)]
    pub slow_ticks: usize,
    #[serde(default)]
    pub slow_max_gap_ms: f64,
    /// Time one sample took to read, mean and worst: the sampler's own cost.
    #[serde(default)]
    pub sample_ms_mean: f64,
    #[serde(default)]
    pub sample_ms_max: f64,
    /// Total milliseconds spent on each reading over the trial, to find a costly one.
    #[serde(default)]
    pub cost_ms: BTreeMap<String, f64>,
    /// Series by name: `gpu0.power_w`, `host.net_rx_bytes`...
    pub series: BTreeMap<String, Series>,
    pub gpus: Vec<SampledGpu>,
    pub processes: Vec<GpuProcess>,
    /// Why a series is absent: name → reason (e.g. "not supported on this GPU").
    pub unavailable: BTreeMap<String, String>,
    /// Why there is no GPU telemetry at all, when GPU telemetry was asked for.
    pub gpu_unavailable: Option<String>,
    /// The windows the trial marked, on the series' clock (for the figures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowSpan>,
}

/// One visit of a measurement window: seconds on the clock of the trial's telemetry
/// (from its first sample); `window` is "" for the unnamed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSpan {
    pub window: String,
    pub begin_s: f64,
    pub end_s: f64,
}

impl Recording {
    /// One reading at `t`: a point of its series, or why it could not be read (the first
    /// reason is kept).
    pub fn record(
        &mut self,
        name: String,
        unit: &str,
        kind: Kind,
        t: f64,
        r: Result<f64, crate::machine::Unavailable>,
    ) {
        match r {
            Ok(v) => self
                .series
                .entry(name)
                .or_insert_with(|| Series::new(unit, kind))
                .push(t, v),
            Err(why) => {
                self.unavailable.entry(name).or_insert(why.to_string());
            }
        }
    }
}
