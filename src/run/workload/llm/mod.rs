//! The `llm-serve` workload and `rigor serve-bench`: an OpenAI-compatible load generator
//! with exact per-request timing, optionally owning the server it measures.

pub mod client;
pub mod dataset;
pub mod floor;
pub mod http;
pub mod load;
pub mod metrics;
pub mod profile;
pub mod server;
pub mod sse;
pub mod tokens;

crate::reason_error!(
    /// Why a load could not be run or summarised (a bad option, a dataset, the
    /// tokenizer, a server that would not start). Failed requests are not errors: they
    /// are recorded with their kind.
    LlmError
);

use client::{Endpoint, Target};
use load::{Arrival, Load, Plan};
use metrics::{RequestRecord, Slo, Summary};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything one load test needs, parsed from `--field value` pairs.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: Option<String>,
    pub server_command: Option<Vec<String>>,
    pub ready_path: String,
    pub ready_timeout: Duration,
    pub target: Target,
    pub plan: Plan,
    pub dataset: String,
    pub input_len: u32,
    /// `dataset = "trace:…"`: how many times faster than recorded to replay it.
    pub trace_speed: f64,
    /// The cap on requests in flight, for a rate or a trace (None: none).
    pub max_concurrency: Option<usize>,
    /// Shared prefixes: how many, and their length in words (0: none).
    pub prefixes: usize,
    pub prefix_len: u32,
    pub output_len: u32,
    pub lengths: dataset::Lengths,
    pub slo: Slo,
    /// Above this error rate the load fails (`serve-bench` exits 1, the trial fails).
    /// None: `serve-bench` fails on any failed request; a trial only when none succeeded.
    pub max_error_rate: Option<f64>,
    /// The server's kind, when declared; None: found out before the load.
    pub server: Option<profile::Server>,
    /// Ask for exactly `output_len` tokens, with the fields the server's kind takes.
    pub exact_length: bool,
    pub records: bool,
    /// A tokenizer.json: exact synthetic lengths, and counts where the server gives none.
    pub tokenizer: Option<String>,
}

fn num<T: std::str::FromStr>(f: &BTreeMap<&str, String>, k: &str) -> Result<T, LlmError> {
    f[k].parse()
        .map_err(|_| LlmError(format!("{k}: `{}` is not a number", f[k])))
}

fn opt_num<T: std::str::FromStr>(
    f: &BTreeMap<&str, String>,
    k: &str,
) -> Result<Option<T>, LlmError> {
    if f[k].is_empty() || f[k] == "0" {
        Ok(None)
    } else {
        num(f, k).map(Some)
    }
}

impl Options {
    pub fn from_fields(f: &BTreeMap<&'static str, String>) -> Result<Options, LlmError> {
        let url = (!f["url"].is_empty()).then(|| f["url"].clone());
        let server_command = if f["server_command"].is_empty() {
            None
        } else {
            Some(
                shell_words::split(&f["server_command"])
                    .map_err(|e| LlmError(format!("server_command: {e}")))?,
            )
        };
        if url.is_none() && server_command.is_none() {
            return Err("give `url` (a running server) or `server_command` (a server to start for each trial)".into());
        }
        let api_key =
            match f["api_key_env"].as_str() {
                "" => None,
                var => Some(std::env::var(var).map_err(|_| {
                    format!("api_key_env: the environment variable {var} is not set")
                })?),
            };
        let ca_pem = match f["ca_file"].as_str() {
            "" => None,
            path => Some(
                std::fs::read(path)
                    .map_err(|e| LlmError(format!("ca_file: cannot read {path}: {e}")))?,
            ),
        };
        let extra_body = if f["extra_body"].is_empty() {
            serde_json::Map::new()
        } else {
            match serde_json::from_str(&f["extra_body"]) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => {
                    return Err(
                        "extra_body: must be a JSON object, e.g. {\"ignore_eos\": true}".into(),
                    );
                }
            }
        };
        let server = match f["server"].as_str() {
            "auto" | "" => None,
            s => Some(profile::Server::parse(s).ok_or_else(|| {
                format!("server: `{s}` is not one of {}", profile::NAMES.join(", "))
            })?),
        };
        let stall = match f["stall_timeout"].as_str() {
            "" | "0" => None,
            d => Some(
                humantime::parse_duration(d)
                    .map_err(|e| LlmError(format!("stall_timeout: {e}")))?,
            ),
        };
        let grace = match f["grace"].as_str() {
            "" | "0" => Duration::ZERO,
            d => humantime::parse_duration(d).map_err(|e| LlmError(format!("grace: {e}")))?,
        };
        let max_error_rate = match f["max_error_rate"].as_str() {
            "" => None,
            v => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| {
                        LlmError(format!("max_error_rate: `{v}` is not a fraction in [0, 1]"))
                    })?,
            ),
        };
        let duration = match f["duration"].as_str() {
            "" | "0" => None,
            d => {
                Some(humantime::parse_duration(d).map_err(|e| LlmError(format!("duration: {e}")))?)
            }
        };
        let requests: Option<usize> = opt_num(f, "requests")?;
        // A trace bounds itself: with neither, it is replayed to its end.
        if requests.is_none() && duration.is_none() && !f["dataset"].starts_with("trace:") {
            return Err("bound the load with `requests` or `duration`".into());
        }
        let rate: Option<f64> = opt_num(f, "rate")?;
        if f["dataset"].starts_with("trace:") && rate.is_some_and(|r| r > 0.0) {
            return Err(
                "a trace brings its own schedule: remove `rate` (`trace_speed` scales it)".into(),
            );
        }
        let turns: u32 = num(f, "turns")?;
        let think = match f["think_time"].as_str() {
            "0" => Duration::ZERO,
            t => humantime::parse_duration(t).map_err(|e| LlmError(format!("think_time: {e}")))?,
        };
        if turns > 1 {
            let warmup: usize = num(f, "warmup_requests")?;
            if !warmup.is_multiple_of(turns as usize) {
                return Err(LlmError(format!(
                    "turns: warm-up is whole conversations: make warmup_requests a multiple of turns ({turns})"
                )));
            }
            if let Some(n) = opt_num::<usize>(f, "requests")?
                && let Some(c) = opt_num::<usize>(f, "concurrency")?
                && n.div_ceil(turns as usize) < c
            {
                return Err(LlmError(format!(
                    "turns: {n} requests make only {} conversations of {turns} turns for {c} clients, so most clients would never send: raise requests to at least {} or lower concurrency",
                    n.div_ceil(turns as usize),
                    c * turns as usize
                )));
            }
            if f["prefixes"] != "0" {
                return Err("turns: a conversation's history already repeats its earlier turns; shared prefixes on every turn would repeat a prefix per turn: remove `prefixes`".into());
            }
            if f["endpoint"] != "chat" {
                return Err("turns: a conversation's history is a list of messages: use endpoint = \"chat\"".into());
            }
            if rate.is_some_and(|r| r > 0.0) || f["dataset"].starts_with("trace:") {
                return Err("turns: a conversation's turns follow its replies, which a rate or a trace cannot schedule: use `concurrency` (each client holds one conversation at a time)".into());
            }
        }
        let load = match rate {
            Some(r) if r > 0.0 => Load::Rate {
                per_s: r,
                arrival: match f["arrival"].as_str() {
                    "poisson" => Arrival::Poisson,
                    "constant" => Arrival::Constant,
                    _ => Arrival::Gamma(num(f, "burstiness")?),
                },
                max_concurrency: opt_num(f, "max_concurrency")?,
            },
            _ => Load::Concurrency(num(f, "concurrency")?),
        };
        Ok(Options {
            url,
            server_command,
            ready_path: f["ready_path"].clone(),
            ready_timeout: humantime::parse_duration(&f["ready_timeout"])
                .map_err(|e| LlmError(format!("ready_timeout: {e}")))?,
            target: Target {
                base_url: String::new(),
                model: f["model"].clone(),
                endpoint: match f["endpoint"].as_str() {
                    "chat" => Endpoint::Chat,
                    "embeddings" => Endpoint::Embeddings,
                    _ => Endpoint::Completions,
                },
                // An embedding is one response: nothing streams.
                stream: f["stream"] == "true" && f["endpoint"] != "embeddings",
                api_key,
                ca_pem,
                extra_body,
                timeout: humantime::parse_duration(&f["timeout"])
                    .map_err(|e| LlmError(format!("timeout: {e}")))?,
                stall,
                request_usage: f["usage"] == "true",
                keep_text: !f["tokenizer"].is_empty(),
                // A conversation's next turn carries the server's answers.
                keep_reply: turns > 1,
            },
            plan: Plan {
                load,
                requests,
                duration,
                warmup: num(f, "warmup_requests")?,
                grace,
                seed: num(f, "seed")?,
                turns,
                think,
            },
            dataset: f["dataset"].clone(),
            input_len: num(f, "input_len")?,
            trace_speed: num(f, "trace_speed")?,
            max_concurrency: opt_num(f, "max_concurrency")?,
            prefixes: num(f, "prefixes")?,
            prefix_len: num(f, "prefix_len")?,
            output_len: num(f, "output_len")?,
            lengths: match f["lengths"].as_str() {
                "uniform" => dataset::Lengths::Uniform(num(f, "spread")?),
                "normal" => dataset::Lengths::Normal(num(f, "spread")?),
                _ => dataset::Lengths::Fixed,
            },
            slo: Slo::parse(&f["slo"]).map_err(|e| LlmError(format!("slo: {e}")))?,
            max_error_rate,
            server,
            exact_length: f["ignore_eos"] == "true",
            records: f["records"] == "true",
            tokenizer: (!f["tokenizer"].is_empty()).then(|| f["tokenizer"].clone()),
        })
    }
}

pub struct Outcome {
    pub summary: Summary,
    pub records: Vec<RequestRecord>,
    /// Deltas of the server's Prometheus counters over the load, when it exposes them.
    pub server_counters: BTreeMap<String, f64>,
    pub server_log: Option<String>,
    /// An owned server that died during the load, and how.
    pub server_died: Option<String>,
}

impl Outcome {
    /// Each kind of failure with its count and the first message of that kind.
    pub fn failures(&self) -> Vec<(&str, usize, &str)> {
        self.summary
            .errors
            .iter()
            .map(|(kind, n)| {
                let example = self
                    .records
                    .iter()
                    .find(|r| r.error.as_deref() == Some(kind.as_str()))
                    .and_then(|r| r.message.as_deref())
                    .unwrap_or_default();
                (kind.as_str(), *n, example)
            })
            .collect()
    }

    /// Why this load cannot stand as a measurement, if it cannot. `strict` (serve-bench
    /// without `max_error_rate`) fails on any failed request; a trial fails only when no
    /// request succeeded or the error rate is above `max_error_rate`. Partly failed trials
    /// stand, with their error rate, and the report warns about them.
    pub fn failure(&self, max_error_rate: Option<f64>, strict: bool) -> Option<String> {
        let s = &self.summary;
        if let Some(why) = &self.server_died {
            return Some(format!(
                "the server died during the load ({why}); the {} request(s) that ended before are stored",
                self.records.len()
            ));
        }
        if s.requests == 0 {
            return Some("no measured request was sent".into());
        }
        let kinds = || {
            self.failures()
                .iter()
                .map(|(k, n, ex)| format!("{n} {k} ({ex})"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if s.ok == 0 {
            return Some(if s.failed == 0 {
                format!(
                    "no request completed: all {} were still in flight when the duration ended (set `grace`, or a longer `duration`)",
                    s.cancelled
                )
            } else {
                format!("every request failed: {}", kinds())
            });
        }
        match max_error_rate {
            Some(m) if s.error_rate > m => Some(format!(
                "error rate {:.1}% is above max_error_rate {:.1}%: {}",
                s.error_rate * 100.0,
                m * 100.0,
                kinds()
            )),
            None if strict && s.failed > 0 => Some(format!(
                "{} of {} request(s) failed: {}",
                s.failed,
                s.requests,
                kinds()
            )),
            _ => None,
        }
    }
}

/// Runs one load test (starting and stopping the server when the options own one);
/// `mark` is told when the measured load begins and ends (its window).
pub fn run(o: &Options, mark: Option<crate::run::window::Mark>) -> Result<Outcome, LlmError> {
    let n_prompts = o
        .plan
        .requests
        .map_or(1000, |r| r + o.plan.warmup)
        .clamp(1, 100_000);
    let tokenizer = match &o.tokenizer {
        Some(p) => Some(tokens::LocalTokenizer::load(p)?),
        None => None,
    };
    // A trace brings its own schedule: the load replays it (at `trace_speed`).
    let mut schedule: Option<Vec<f64>> = None;
    let prompts = if o.dataset == "synthetic" {
        match &tokenizer {
            Some(t) => tokens::synthetic_exact(
                t,
                n_prompts,
                o.input_len,
                o.output_len,
                o.lengths,
                o.plan.seed,
            )?,
            None => {
                dataset::synthetic(n_prompts, o.input_len, o.output_len, o.lengths, o.plan.seed)
            }
        }
    } else if let Some(path) = o.dataset.strip_prefix("trace:") {
        let text =
            std::fs::read_to_string(path).map_err(|e| LlmError(format!("trace {path}: {e}")))?;
        let (p, at) = dataset::trace(&text, o.plan.seed)
            .map_err(|e| LlmError(format!("trace {path}: {e}")))?;
        if o.trace_speed.is_nan() || o.trace_speed <= 0.0 {
            return Err("trace_speed must be above 0".into());
        }
        if let Some(r) = o.plan.requests
            && r + o.plan.warmup > p.len()
        {
            return Err(LlmError(format!(
                "trace {path} holds {} requests: ask for at most {} measured ones after {} warm-up (requests = 0 replays it all)",
                p.len(),
                p.len().saturating_sub(o.plan.warmup),
                o.plan.warmup
            )));
        }
        let at: Vec<f64> = at.iter().map(|t| t / o.trace_speed).collect();
        if at.iter().any(|t| !t.is_finite() || *t > 1e9) {
            return Err(LlmError(format!(
                "trace {path} at trace_speed {} lasts beyond any run: raise trace_speed",
                o.trace_speed
            )));
        }
        schedule = Some(at);
        p
    } else if let Some(path) = o.dataset.strip_prefix("sharegpt:") {
        let text =
            std::fs::read_to_string(path).map_err(|e| LlmError(format!("dataset {path}: {e}")))?;
        // With turns, a conversation's own human turns, in order.
        dataset::sharegpt_turns(&text, o.output_len, o.plan.seed, o.plan.turns)
            .map_err(|e| LlmError(format!("dataset {path}: {e}")))?
    } else {
        let text = std::fs::read_to_string(&o.dataset)
            .map_err(|e| LlmError(format!("dataset {}: {e}", o.dataset)))?;
        dataset::jsonl(&text, o.output_len)
            .map_err(|e| LlmError(format!("dataset {}: {e}", o.dataset)))?
    };
    // Shared prefixes before every prompt, whatever its source, drawn from the seed.
    let prompts = if o.prefixes > 0 && o.prefix_len > 0 {
        dataset::with_prefixes(prompts, o.prefixes, o.prefix_len, o.plan.seed)
    } else {
        prompts
    };
    let log_dir = std::env::temp_dir();
    let mut server = None;
    let mut target = o.target.clone();
    target.base_url = match (&o.url, &o.server_command) {
        (Some(u), _) => u.clone(),
        (None, Some(cmd)) => {
            let port = server::free_port()?;
            let argv: Vec<String> = cmd
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect();
            let s = server::Server::start(&argv, port, &o.ready_path, o.ready_timeout, &log_dir)?;
            let url = format!("http://127.0.0.1:{port}");
            server = Some(s);
            url
        }
        (None, None) => unreachable!("checked in from_fields"),
    };
    // One client at a time is timed on one thread: handing a wake-up from the I/O driver
    // to another worker cost ~100 µs of TTFT on a 2-core machine. Many clients get workers.
    let single = schedule.is_none() && matches!(o.plan.load, Load::Concurrency(1));
    let rt = if single {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
            .enable_all()
            .build()
    }
    .map_err(|e| LlmError(format!("cannot start the async runtime: {e}")))?;
    // Which server this is (declared, or asked before the load) decides the request
    // fields for exact lengths and where its Prometheus counters are. Asked on connections
    // of their own (same TLS trust), outside the load's timings.
    let scraper = http::Pool::new(
        http::Origin::parse(&target.base_url, target.ca_pem.as_deref())
            .map_err(|e| e.to_string())?,
    );
    let (detected, answered) = match o.server {
        Some(s) => (
            profile::Detected {
                server: s,
                by: "declared (`server`)".into(),
            },
            true,
        ),
        None => rt.block_on(detect(&scraper)),
    };
    let mut exact_length_note = None;
    // An embedding generates nothing: no output length to fix.
    if o.exact_length && o.target.endpoint != Endpoint::Embeddings {
        match detected.server.exact_length_fields() {
            Some(fields) => {
                for (k, v) in fields {
                    // What the user put in extra_body wins.
                    target.extra_body.entry(k).or_insert(v);
                }
            }
            None => {
                exact_length_note = Some(format!(
                    "{} has no request field that fixes the output length: requests may end before max_tokens (token counts are the server's)",
                    detected.server.name()
                ))
            }
        }
    }
    let metrics_path = detected.server.metrics_path();
    let scrape = || {
        let path = metrics_path.filter(|_| answered)?;
        rt.block_on(scraper.get(path, PROBE_TIMEOUT))
            .ok()
            .filter(|(status, _, _)| *status == 200)
            .map(|(_, _, body)| server::prometheus_counters(&String::from_utf8_lossy(&body)))
    };
    let before = scrape();
    let prompts = Arc::new(prompts);
    // A trace's requests go out on its schedule, as an open-loop load.
    let mut plan = o.plan;
    if let Some(s) = &schedule {
        if plan.requests.is_none() && plan.duration.is_none() {
            plan.requests = Some(s.len().saturating_sub(plan.warmup).max(1));
        }
        let span = s.last().copied().unwrap_or(0.0);
        plan.load = Load::Rate {
            per_s: if span > 0.0 {
                s.len().saturating_sub(1).max(1) as f64 / span
            } else {
                1.0
            },
            arrival: load::Arrival::Constant,
            max_concurrency: o.max_concurrency,
        };
    }
    let (mut records, connections) = rt
        .block_on(load::run(
            Arc::new(target),
            prompts.clone(),
            plan,
            mark,
            schedule,
        ))
        .map_err(|e| e.to_string())?;
    // Counts for what the server did not count, after the load: never on the timed path.
    if let Some(t) = tokenizer
        .as_ref()
        .filter(|_| o.target.endpoint != Endpoint::Embeddings)
    {
        for r in records
            .iter_mut()
            .filter(|r| r.ok() && r.output_tokens.is_none())
        {
            r.output_tokens = Some(t.count(&r.generated)?);
            // A later turn's input is its whole history, which is not kept: its count stays
            // missing rather than the count of its last prompt alone.
            if r.input_tokens.is_none() && r.turn.is_none_or(|t| t == 1) {
                r.input_tokens = Some(t.count(&prompts[r.index % prompts.len()].text)?);
            }
            r.tokens_from = Some("tokenizer".into());
        }
    }
    let mut server_died = None;
    let mut server_log = None;
    if let Some(s) = &mut server {
        server_died = s.died();
    }
    let mut server_counters = BTreeMap::new();
    if server_died.is_none()
        && let Some(before) = before
        && let Some(after) = scrape()
    {
        for (k, v) in after {
            server_counters.insert(k.clone(), v - before.get(&k).copied().unwrap_or(0.0));
        }
    }
    if let Some(mut s) = server {
        s.stop();
        server_log = Some(s.log_tail(if server_died.is_some() { 20 } else { 200 }));
        let _ = std::fs::remove_file(&s.log_path);
    }
    let mut summary = metrics::summarize(&records, &o.slo);
    // From the scheduled time only where arrivals do not wait for responses: in a closed
    // loop the schedule is the send, the figures would repeat TTFT and E2E, and the "lag"
    // would be the client's microseconds between deciding and sending.
    if matches!(plan.load, Load::Concurrency(_)) {
        summary.ttft_sched_ms = None;
        summary.e2e_sched_ms = None;
        summary.send_lag_ms = None;
    }
    summary.connections = Some(connections);
    summary.server = Some(detected);
    summary.exact_length = exact_length_note;
    if o.target.endpoint == Endpoint::Embeddings && summary.ok > 0 {
        summary.tokens_missing =
            Some("an embedding request generates no tokens (its input tokens are in each request's `input_tokens`)".into());
        summary.output_tok_s = None;
        summary.total_tok_s = None;
    }
    Ok(Outcome {
        summary,
        records,
        server_counters,
        server_log,
        server_died,
    })
}

/// Which server answers at the pool's origin, from `GET /v1/models` and, when that does
/// not tell, `GET /openapi.json`; a server that answers neither is `generic`.
/// Also whether the server answered at all: one that does not is not asked again (for
/// its counters) before the load, which then finds out for itself.
async fn detect(pool: &http::Pool) -> (profile::Detected, bool) {
    let t = PROBE_TIMEOUT;
    let (header, models) = match pool.get("/v1/models", t).await {
        Ok((_, h, body)) => (
            h.get("server")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            serde_json::from_slice::<serde_json::Value>(&body).ok(),
        ),
        Err(_) => {
            let host = pool.origin().url.clone();
            return (profile::identify(None, None, &[], &host), false);
        }
    };
    let host = pool.origin().url.clone();
    let first = profile::identify(header.as_deref(), models.as_ref(), &[], &host);
    if first.server != profile::Server::Generic {
        return (first, true);
    }
    let paths: Vec<String> = match pool.get("/openapi.json", t).await {
        Ok((200, _, body)) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["paths"].as_object().map(|m| m.keys().cloned().collect()))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    (
        profile::identify(header.as_deref(), models.as_ref(), &paths, &host),
        true,
    )
}

/// How long a question to the server outside the load (its kind, its counters) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A metric line: (name, value, unit, better).
pub type MetricLine = (String, f64, &'static str, &'static str);

/// The per-trial metrics, and (name, reason) for those that could not be measured.
pub fn trial_metrics(s: &Summary) -> (Vec<MetricLine>, Vec<(String, String)>) {
    let mut m = Vec::new();
    let mut missing = Vec::new();
    let dists = [
        ("ttft_ms", &s.ttft_ms),
        ("itl_ms", &s.itl_ms),
        ("tpot_ms", &s.tpot_ms),
        ("e2e_ms", &s.e2e_ms),
    ];
    for (name, d) in dists {
        match d {
            Some(d) => {
                for (stat, v) in [
                    ("mean", d.mean),
                    ("median", d.median),
                    ("p90", d.p90),
                    ("p95", d.p95),
                    ("p99", d.p99),
                    ("max", d.max),
                ] {
                    m.push((format!("llm.{name}.{stat}"), v, "ms", "lower"));
                }
            }
            None => {
                let why = match name {
                    "ttft_ms" | "itl_ms" if s.ok > 0 => "no streamed tokens (non-streaming requests have no first-token or inter-token times)".to_string(),
                    "tpot_ms" if s.ok > 0 => s.tokens_missing.clone().unwrap_or_else(|| "every request produced at most one token".into()),
                    _ => "no request succeeded".to_string(),
                };
                missing.push((format!("llm.{name}"), why));
            }
        }
    }
    // With no measured request there is no rate, error rate or duration: not zeros.
    if s.requests == 0 {
        for name in ["llm.req_s", "llm.error_rate", "llm.duration_s"] {
            missing.push((name.into(), "no measured request was sent".into()));
        }
    } else if s.ok + s.failed == 0 {
        m.push(("llm.duration_s".into(), s.duration_s, "s", "lower"));
        for name in ["llm.req_s", "llm.error_rate"] {
            missing.push((
                name.into(),
                "every request was cancelled when the duration ended".into(),
            ));
        }
    } else if s.ok == 0 {
        // No request succeeded: a rate of 0 would read as a measured one.
        missing.push(("llm.req_s".into(), "no request succeeded".into()));
        m.push(("llm.error_rate".into(), s.error_rate, "fraction", "lower"));
        m.push(("llm.duration_s".into(), s.duration_s, "s", "lower"));
    } else {
        m.push(("llm.req_s".into(), s.req_s, "req/s", "higher"));
        m.push(("llm.error_rate".into(), s.error_rate, "fraction", "lower"));
        m.push(("llm.duration_s".into(), s.duration_s, "s", "lower"));
    }
    for (name, v) in [
        ("llm.output_tok_s", s.output_tok_s),
        ("llm.total_tok_s", s.total_tok_s),
    ] {
        match v {
            Some(v) => m.push((name.into(), v, "tok/s", "higher")),
            None => missing.push((
                name.into(),
                s.tokens_missing
                    .clone()
                    .unwrap_or_else(|| "the server gave no prompt token counts".into()),
            )),
        }
    }
    if let Some(g) = s.goodput_req_s {
        m.push(("llm.goodput_req_s".into(), g, "req/s", "higher"));
    }
    if let Some(g) = s.goodput_fraction {
        m.push(("llm.goodput_fraction".into(), g, "fraction", "higher"));
    }
    for (turn, d) in &s.ttft_by_turn {
        for (stat, v) in [("mean", d.mean), ("median", d.median), ("p99", d.p99)] {
            m.push((format!("llm.ttft_ms.turn{turn}.{stat}"), v, "ms", "lower"));
        }
    }
    if let Some(why) = &s.goodput_missing {
        missing.push(("llm.goodput_req_s".into(), why.clone()));
        missing.push(("llm.goodput_fraction".into(), why.clone()));
    }
    match s.input_tok_s {
        Some(v) => m.push(("llm.input_tok_s".into(), v, "tok/s", "higher")),
        None if s.ok > 0 => missing.push((
            "llm.input_tok_s".into(),
            "the server gave no prompt token count for some requests, and no tokenizer was given"
                .into(),
        )),
        None => {}
    }
    if s.reasoned_unanswered > 0 {
        missing.push((
            "llm.ttft_answer_ms".into(),
            format!(
                "{} request(s) reasoned and never reached their answer: raise `output_len`",
                s.reasoned_unanswered
            ),
        ));
    }
    if let Some(c) = s.prompt_cached_fraction {
        m.push(("llm.prompt_cached_fraction".into(), c, "fraction", "higher"));
    }
    // The timing's own honesty, and the peers' definitions under their own names: a few
    // statistics each (all of them are in the summary and the stored requests).
    for (name, d, stats) in [
        ("send_lag_ms", &s.send_lag_ms, &["median", "p99", "max"][..]),
        ("ttft_sched_ms", &s.ttft_sched_ms, &["median", "p99"][..]),
        ("e2e_sched_ms", &s.e2e_sched_ms, &["median", "p99"][..]),
        (
            "ttft_first_event_ms",
            &s.ttft_first_event_ms,
            &["median", "p99"][..],
        ),
        (
            "ttft_reasoning_ms",
            &s.ttft_reasoning_ms,
            &["median", "p99"][..],
        ),
        ("ttft_answer_ms", &s.ttft_answer_ms, &["median", "p99"][..]),
    ] {
        if let Some(d) = d {
            for stat in stats {
                let v = match *stat {
                    "median" => d.median,
                    "p99" => d.p99,
                    _ => d.max,
                };
                m.push((format!("llm.{name}.{stat}"), v, "ms", "lower"));
            }
        }
    }
    (m, missing)
}
