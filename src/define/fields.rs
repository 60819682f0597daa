//! The built-in probes' parameters: one table shared by the experiment-file parser (which
//! checks literal values where they are written) and by `rigor probe` (which parses the
//! rendered command line of a trial). Pure; no CUDA here.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Gemm,
    Copy,
    LlmServe,
}

impl Probe {
    pub fn parse(s: &str) -> Option<Probe> {
        match s {
            "gemm" => Some(Probe::Gemm),
            "copy" => Some(Probe::Copy),
            "llm-serve" => Some(Probe::LlmServe),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Probe::Gemm => "gemm",
            Probe::Copy => "copy",
            Probe::LlmServe => "llm-serve",
        }
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Probe::Gemm => GEMM_FIELDS,
            Probe::Copy => COPY_FIELDS,
            Probe::LlmServe => LLM_FIELDS,
        }
    }

    /// The metrics the probe prints: (name, unit, better, required).
    pub fn metrics(self) -> &'static [(&'static str, &'static str, &'static str, bool)] {
        match self {
            Probe::Gemm => &[
                ("gemm.time_ms", "ms", "lower", true),
                ("gemm.tflops", "TFLOP/s", "higher", true),
            ],
            Probe::Copy => &[
                ("copy.time_ms", "ms", "lower", true),
                ("copy.gbs", "GB/s", "higher", true),
                // Only host↔device copies over a link NVML describes have a limit.
                ("copy.link_pct", "%", "higher", false),
            ],
            Probe::LlmServe => &[
                ("llm.req_s", "req/s", "higher", true),
                ("llm.error_rate", "fraction", "lower", true),
            ],
        }
    }
}

crate::reason_error!(
    /// Why a value is not acceptable for a field.
    Invalid
);

/// A command line of a built-in workload that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldError {
    #[error("expected `--field value`, found `{0}`")]
    NotAFlag(String),
    #[error("`{probe}` has no field `{field}`")]
    Unknown { probe: &'static str, field: String },
    #[error("`--{0}` needs a value")]
    NoValue(&'static str),
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: Invalid },
    #[error("`{probe}` needs `--{field}` ({help})")]
    Missing {
        probe: &'static str,
        field: &'static str,
        help: &'static str,
    },
}

/// Service-level objectives: a request counts toward goodput when it meets all of them.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

impl Slo {
    /// `"ttft_ms<=500,tpot_ms<=50"`.
    pub fn parse(s: &str) -> Result<Slo, Invalid> {
        let mut out = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once("<=").ok_or_else(|| {
                format!("`{part}`: write an objective as name<=value, e.g. ttft_ms<=500")
            })?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| Invalid(format!("`{part}`: the limit must be a positive number")))?;
            match k.trim() {
                "ttft_ms" => out.ttft_ms = Some(v),
                "tpot_ms" => out.tpot_ms = Some(v),
                "e2e_ms" => out.e2e_ms = Some(v),
                other => {
                    return Err(Invalid(format!(
                        "`{other}` is not an objective; use ttft_ms, tpot_ms or e2e_ms"
                    )));
                }
            }
        }
        Ok(out)
    }

    pub fn is_set(&self) -> bool {
        self.ttft_ms.is_some() || self.tpot_ms.is_some() || self.e2e_ms.is_some()
    }
}

/// The kinds of OpenAI-compatible server `llm-serve` knows (`server = …`); `auto` asks
/// the server (`run::workload::llm::profile` says what each kind means).
pub const SERVERS: [&str; 9] = [
    "auto",
    "vllm",
    "sglang",
    "llama.cpp",
    "transformers",
    "trtllm",
    "tgi",
    "openai",
    "generic",
];

/// One parameter of a probe.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    /// None: the field must be given.
    pub default: Option<&'static str>,
    pub check: fn(&str) -> Result<(), Invalid>,
    pub help: &'static str,
}

pub const GEMM_DTYPES: [&str; 5] = ["fp32", "tf32", "fp16", "bf16", "fp8"];
pub const COPY_DIRECTIONS: [&str; 3] = ["h2d", "d2h", "d2d"];
pub const COPY_MEMORY: [&str; 2] = ["pinned", "pageable"];

fn positive(s: &str) -> Result<(), Invalid> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err(Invalid(format!(
            "`{s}` is not a whole number of at least 1"
        ))),
    }
}

fn count(s: &str) -> Result<(), Invalid> {
    s.parse::<u64>()
        .map(|_| ())
        .map_err(|_| Invalid(format!("`{s}` is not a whole number")))
}

fn one_of(s: &str, set: &[&str]) -> Result<(), Invalid> {
    if set.contains(&s) {
        Ok(())
    } else {
        Err(Invalid(format!("`{s}` is not one of {}", set.join(", "))))
    }
}

fn boolean(s: &str) -> Result<(), Invalid> {
    one_of(s, &["true", "false"])
}

fn size(s: &str) -> Result<(), Invalid> {
    match parse_size(s) {
        Some(0) => Err("a size of 0 bytes moves nothing".into()),
        Some(_) => Ok(()),
        None => Err(Invalid(format!(
            "`{s}` is not a size; write bytes or e.g. \"64MiB\", \"1GiB\", \"512MB\""
        ))),
    }
}

const GEMM_FIELDS: &[Field] = &[
    Field {
        name: "m",
        default: None,
        check: positive,
        help: "rows of A and C: C (m×n) = A (m×k) · B (k×n)",
    },
    Field {
        name: "n",
        default: None,
        check: positive,
        help: "columns of B and C",
    },
    Field {
        name: "k",
        default: None,
        check: positive,
        help: "columns of A, rows of B",
    },
    Field {
        name: "batch",
        default: Some("1"),
        check: positive,
        help: "independent products per iteration (strided batched)",
    },
    Field {
        name: "dtype",
        default: Some("bf16"),
        check: |s| one_of(s, &GEMM_DTYPES),
        help: "`fp32`, `tf32` (fp32 data on tensor cores), `fp16`, `bf16`, `fp8` (e4m3 inputs, bf16 output; compute capability ≥ 8.9, m, n, k multiples of 16)",
    },
    Field {
        name: "iterations",
        default: Some("50"),
        check: positive,
        help: "timed products per trial; each is one sample",
    },
    Field {
        name: "warmup_iterations",
        default: Some("10"),
        check: count,
        help: "untimed products before the timed ones",
    },
    Field {
        name: "device",
        default: Some("0"),
        check: count,
        help: "CUDA device ordinal",
    },
    Field {
        name: "check",
        default: Some("true"),
        check: boolean,
        help: "compare a small product in the same dtype and layout with a float64 CPU product first; a mismatch fails the trial",
    },
    Field {
        name: "seed",
        default: Some("{trial}"),
        check: count,
        help: "seed of the random inputs (uniform in [−1, 1), never zeros)",
    },
];

const COPY_FIELDS: &[Field] = &[
    Field {
        name: "direction",
        default: Some("h2d"),
        check: |s| one_of(s, &COPY_DIRECTIONS),
        help: "h2d (host to device), d2h, or d2d",
    },
    Field {
        name: "memory",
        default: Some("pinned"),
        check: |s| one_of(s, &COPY_MEMORY),
        help: "host memory: pinned (page-locked) or pageable",
    },
    Field {
        name: "size",
        default: Some("1GiB"),
        check: size,
        help: "bytes per repetition: an integer or `64MiB`, `512MB`, `1GiB`…",
    },
    Field {
        name: "chunk",
        default: Some("0"),
        check: |s| if s == "0" { Ok(()) } else { size(s) },
        help: "bytes per copy call; 0 means one call for the whole size",
    },
    Field {
        name: "iterations",
        default: Some("20"),
        check: positive,
        help: "timed repetitions per trial; each is one sample",
    },
    Field {
        name: "warmup_iterations",
        default: Some("3"),
        check: count,
        help: "untimed repetitions first",
    },
    Field {
        name: "device",
        default: Some("0"),
        check: count,
        help: "CUDA device ordinal",
    },
];

fn anything(_: &str) -> Result<(), Invalid> {
    Ok(())
}

fn nonneg(s: &str) -> Result<(), Invalid> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(()),
        _ => Err(Invalid(format!("`{s}` is not a number of at least 0"))),
    }
}

fn duration(s: &str) -> Result<(), Invalid> {
    if s == "0" {
        return Ok(());
    }
    humantime::parse_duration(s)
        .map(|_| ())
        .map_err(|e| Invalid(format!("`{s}` is not a duration: {e}")))
}

fn positive_duration(s: &str) -> Result<(), Invalid> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(()),
        Ok(_) => Err(Invalid(format!(
            "`{s}` is no time at all; give a positive duration, e.g. \"120s\""
        ))),
        Err(e) => Err(Invalid(format!("`{s}` is not a duration: {e}"))),
    }
}

fn url(s: &str) -> Result<(), Invalid> {
    if s.is_empty() {
        return Ok(());
    }
    let uri: http::Uri = s.parse().map_err(|e| {
        Invalid(format!(
            "`{s}` is not a URL ({e}); write e.g. http://127.0.0.1:8000"
        ))
    })?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        Some("http" | "https") => Err(Invalid(format!("`{s}` has no host"))),
        Some(other) => Err(Invalid(format!(
            "`{s}`: unsupported scheme `{other}`; use http:// or https://"
        ))),
        None => Err(Invalid(format!(
            "`{s}` is not a URL; write e.g. http://127.0.0.1:8000"
        ))),
    }
}

fn fraction(s: &str) -> Result<(), Invalid> {
    if s.is_empty() {
        return Ok(());
    }
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(()),
        _ => Err(Invalid(format!(
            "`{s}` is not a fraction in [0, 1], e.g. 0.01"
        ))),
    }
}

const LLM_FIELDS: &[Field] = &[
    Field {
        name: "url",
        default: Some(""),
        check: url,
        help: "base URL of a running OpenAI-compatible server, e.g. http://127.0.0.1:8000",
    },
    Field {
        name: "server_command",
        default: Some(""),
        check: anything,
        help: "a server to start fresh for each trial; `{port}` is replaced by a free port",
    },
    Field {
        name: "ready_path",
        default: Some("/health"),
        check: anything,
        help: "path polled until it answers 200",
    },
    Field {
        name: "ready_timeout",
        default: Some("300s"),
        check: positive_duration,
        help: "how long the server may take to become ready",
    },
    Field {
        name: "model",
        default: Some("default"),
        check: anything,
        help: "the `model` of each request",
    },
    Field {
        name: "endpoint",
        default: Some("completions"),
        check: |s| one_of(s, &["completions", "chat", "embeddings"]),
        help: "completions (/v1/completions), chat (/v1/chat/completions), or embeddings (/v1/embeddings: one response each, timed to its end; `stream` does not apply)",
    },
    Field {
        name: "stream",
        default: Some("true"),
        check: boolean,
        help: "stream tokens (SSE); needed for TTFT and ITL",
    },
    Field {
        name: "concurrency",
        default: Some("1"),
        check: positive,
        help: "clients sending back to back (when no rate is set)",
    },
    Field {
        name: "rate",
        default: Some("0"),
        check: nonneg,
        help: "requests per second; 0: use `concurrency`",
    },
    Field {
        name: "arrival",
        default: Some("poisson"),
        check: |s| one_of(s, &["poisson", "gamma", "constant"]),
        help: "arrival process at `rate`",
    },
    Field {
        name: "burstiness",
        default: Some("1"),
        check: nonneg,
        help: "gamma shape for `arrival = gamma` (1 is Poisson, < 1 burstier)",
    },
    Field {
        name: "max_concurrency",
        default: Some("0"),
        check: count,
        help: "cap on requests in flight with a rate; 0: none",
    },
    Field {
        name: "requests",
        default: Some("100"),
        check: count,
        help: "measured requests per trial; 0: until `duration`",
    },
    Field {
        name: "duration",
        default: Some("0"),
        check: duration,
        help: "stop sending after this long; 0: no limit",
    },
    Field {
        name: "warmup_requests",
        default: Some("0"),
        check: count,
        help: "requests sent first and excluded from the metrics",
    },
    Field {
        name: "dataset",
        default: Some("synthetic"),
        check: anything,
        help: "`synthetic`; a JSONL file (one prompt string per line, or objects with `prompt` and optional `max_tokens`); `sharegpt:FILE.json` (first human turn of each conversation, in seeded order; `max_tokens` from the first reply's length, at most `output_len`); or `trace:FILE`, a request trace replayed on its own schedule (Mooncake JSONL: `timestamp` ms, `input_length`, `output_length`, `hash_ids`; or Azure CSV: `TIMESTAMP`, `ContextTokens`, `GeneratedTokens`; lengths in words)",
    },
    Field {
        name: "trace_speed",
        default: Some("1"),
        check: nonneg,
        help: "with `dataset = \"trace:FILE\"`: how many times faster than recorded to replay it (2: twice the rate)",
    },
    Field {
        name: "input_len",
        default: Some("128"),
        check: positive,
        help: "synthetic prompt length: tokens with a `tokenizer`, else words",
    },
    Field {
        name: "prefixes",
        default: Some("0"),
        check: count,
        help: "shared prefixes: prompt i starts with prefix i mod N (N distinct, `prefix_len` words each), to exercise prefix caches; 0: none",
    },
    Field {
        name: "prefix_len",
        default: Some("0"),
        check: count,
        help: "words in each shared prefix (with `prefixes`)",
    },
    Field {
        name: "turns",
        default: Some("1"),
        check: positive,
        help: "multi-turn conversations: each client holds conversations of this many turns, each turn's request carrying the whole history (its earlier prompts and the server's own replies); chat endpoint and a concurrency load",
    },
    Field {
        name: "think_time",
        default: Some("0"),
        check: duration,
        help: "with `turns`: the pause between a reply and the conversation's next turn",
    },
    Field {
        name: "output_len",
        default: Some("64"),
        check: positive,
        help: "max_tokens of each request",
    },
    Field {
        name: "lengths",
        default: Some("fixed"),
        check: |s| one_of(s, &["fixed", "uniform", "normal"]),
        help: "distribution of synthetic lengths",
    },
    Field {
        name: "spread",
        default: Some("0.2"),
        check: nonneg,
        help: "relative half-width (uniform) or standard deviation (normal) of lengths",
    },
    Field {
        name: "ignore_eos",
        default: Some("true"),
        check: boolean,
        help: "ask the server to generate exactly max_tokens, with the request fields its kind takes (see `server`)",
    },
    Field {
        name: "server",
        default: Some("auto"),
        check: |s| one_of(s, &SERVERS),
        help: "the server's kind, for its exact-length fields and metrics endpoint: auto (ask it), vllm, sglang, llama.cpp, transformers, trtllm, tgi, openai or generic",
    },
    Field {
        name: "timeout",
        default: Some("120s"),
        check: positive_duration,
        help: "per-request timeout",
    },
    Field {
        name: "stall_timeout",
        default: Some("60s"),
        check: duration,
        help: "a request that receives no byte for this long fails as `stalled`; 0: never",
    },
    Field {
        name: "grace",
        default: Some("0"),
        check: duration,
        help: "with `duration`: how long requests in flight at its end may still finish; later ones are cancelled",
    },
    Field {
        name: "max_error_rate",
        default: Some(""),
        check: fraction,
        help: "fail when more requests fail than this fraction; unset: serve-bench fails on any failure, a trial when none succeeded",
    },
    Field {
        name: "api_key_env",
        default: Some(""),
        check: anything,
        help: "environment variable holding the API key (never stored)",
    },
    Field {
        name: "ca_file",
        default: Some(""),
        check: anything,
        help: "PEM file of CA certificates to trust for an https url, besides the system's (e.g. an internal CA)",
    },
    Field {
        name: "extra_body",
        default: Some(""),
        check: anything,
        help: "JSON object merged into every request body",
    },
    Field {
        name: "slo",
        default: Some(""),
        check: |s| Slo::parse(s).map(|_| ()),
        help: "objectives for goodput, e.g. \"ttft_ms<=500,tpot_ms<=50\"",
    },
    Field {
        name: "tokenizer",
        default: Some(""),
        check: anything,
        help: "a tokenizer.json: exact synthetic token lengths, and token counts where the server returns no usage",
    },
    Field {
        name: "usage",
        default: Some("true"),
        check: boolean,
        help: "ask for usage in streams (stream_options.include_usage)",
    },
    Field {
        name: "seed",
        default: Some("{trial}"),
        check: count,
        help: "seed of prompts and arrivals",
    },
    Field {
        name: "records",
        default: Some("true"),
        check: boolean,
        help: "print every request's record (stored with the trial's output)",
    },
];

/// The reference table of a workload's fields, as docs/experiment-file.md and
/// docs/llm-serving.md hold it (between `<!-- fields: NAME -->` markers; a test keeps them
/// equal to this, so the docs cannot drift from the definitions).
pub fn reference_table(probe: Probe) -> String {
    let mut s = String::from("| field | flag | default | meaning |\n| --- | --- | --- | --- |\n");
    for f in probe.fields() {
        let default = match f.default {
            None => "required".to_string(),
            Some("") => "—".to_string(),
            Some(d) if d.starts_with('{') => "the trial's index".to_string(),
            Some(d) => format!("`{d}`"),
        };
        s.push_str(&format!(
            "| `{}` | `--{}` | {} | {} |\n",
            f.name,
            f.name.replace('_', "-"),
            default,
            f.help.replace('|', "\\|")
        ));
    }
    s
}

/// Bytes in `s`: a plain integer, or a number with B, KB, MB, GB, KiB, MiB, GiB (case-insensitive).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let x: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = x * mult;
    (bytes.is_finite() && bytes >= 0.0 && bytes.fract() == 0.0 && bytes < 1e18)
        .then_some(bytes as u64)
}

/// CPU numbers in a list as taskset and the kernel write them (`0-3,8,10-11`), sorted and
/// without repeats; `None` if any part is not a number or a rising range.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                // A machine with more than 2^16 CPUs is not one rigor will meet; a typo is.
                if a > b || b >= 1 << 16 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok().filter(|&c: &usize| c < 1 << 16)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Parses `--name value` pairs against a probe's fields, filling defaults.
pub fn parse_args(
    probe: Probe,
    args: &[String],
) -> Result<BTreeMap<&'static str, String>, FieldError> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| FieldError::NotAFlag(flag.clone()))?;
        let field = probe
            .fields()
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FieldError::Unknown {
                probe: probe.name(),
                field: name.to_string(),
            })?;
        let value = it.next().ok_or(FieldError::NoValue(field.name))?;
        (field.check)(value).map_err(|why| FieldError::Invalid {
            field: field.name,
            why,
        })?;
        out.insert(field.name, value.clone());
    }
    for f in probe.fields() {
        if out.contains_key(f.name) {
            continue;
        }
        match f.default {
            // `{trial}` stands for "anything varying": the runner fills it; by hand, 0.
            Some(d) if d.starts_with('{') => out.insert(f.name, "0".into()),
            Some(d) => out.insert(f.name, d.into()),
            None => {
                return Err(FieldError::Missing {
                    probe: probe.name(),
                    field: f.name,
                    help: f.help,
                });
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("512 MB"), Some(512_000_000));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("1.5KB"), Some(1500));
        assert_eq!(parse_size("0.3B"), None);
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn args_get_defaults_and_refuse_unknown_fields_and_bad_values() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = parse_args(Probe::Gemm, &a(&["--m", "64", "--n", "32", "--k", "16"])).unwrap();
        assert_eq!(got["dtype"], "bf16");
        assert_eq!(got["seed"], "0");
        assert_eq!(got["iterations"], "50");
        let e = parse_args(Probe::Gemm, &a(&["--m", "64", "--n", "32"])).unwrap_err();
        assert!(e.to_string().contains("--k"), "{e}");
        let e = parse_args(Probe::Gemm, &a(&["--m", "0", "--n", "1", "--k", "1"])).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        let e = parse_args(Probe::Copy, &a(&["--direction", "sideways"])).unwrap_err();
        assert!(e.to_string().contains("h2d, d2h, d2d"), "{e}");
        let e = parse_args(Probe::Copy, &a(&["--colour", "red"])).unwrap_err();
        assert!(e.to_string().contains("no field `colour`"), "{e}");
    }
}
