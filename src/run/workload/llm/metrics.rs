//! From per-request records to a trial's serving metrics. Definitions follow vLLM's
//! `benchmark_serving` where it defines them (see docs/llm-serving.md); pure.

use crate::stats::descriptive::percentile;
use crate::stats::moments::mean;
pub use crate::trial::RequestRecord;
use serde::Serialize;

pub use crate::define::fields::Slo;

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// Send lag (actual − scheduled send) whose p99 above this means the client fell behind an
/// open-loop schedule: the load the server saw was lighter and later than the one asked
/// for. rigor's own p99 was 2.4 ms at 13.7 req/s on the H200's machine (docs/gpu-serving.md)
/// and 5.6 ms at 40 req/s against the tests' llama.cpp server on the 2-core development
/// machine while it built; 10 ms is well clear of both.
pub const BEHIND_P99_MS: f64 = 10.0;

/// Mean, median and tail of one latency, ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dist {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// One line: requests, outcome, duration and rates (what `serve-bench` and a trial's
    /// log say first).
    pub fn headline(&self) -> String {
        format!(
            "{} requests: {} ok, {} failed in {:.2} s; {:.2} req/s{}{}",
            self.requests,
            self.ok,
            self.failed,
            self.duration_s,
            self.req_s,
            self.output_tok_s
                .map(|t| format!(", {t:.1} output tok/s"))
                .unwrap_or_default(),
            self.total_tok_s
                .map(|t| format!(", {t:.1} total tok/s"))
                .unwrap_or_default(),
        )
    }
}

/// Whether a request reached its send: a send time was stamped, or an answer came. One
/// refused at connect has neither (its `sent_s` was never set).
fn was_sent(r: &RequestRecord) -> bool {
    r.sent_s > 0.0 || r.status.is_some() || r.first_event_s.is_some()
}

pub fn dist(values: &[f64]) -> Option<Dist> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    Some(Dist {
        n: s.len(),
        mean: mean(&s),
        median: percentile(&s, 50.0),
        p90: percentile(&s, 90.0),
        p95: percentile(&s, 95.0),
        p99: percentile(&s, 99.0),
        max: s[s.len() - 1],
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub requests: usize,
    pub ok: usize,
    pub failed: usize,
    /// In flight when a duration-bound load ended: neither ok nor failed, and in no
    /// latency (the percentiles lean short by what they would have added).
    pub cancelled: usize,
    /// Requests sent a second time because the first send provably never reached the server.
    pub retries: usize,
    /// Per-request notes (`no_done`, `no_usage`, `usage_zero`, …) and how many requests had each.
    pub notes: std::collections::BTreeMap<String, usize>,
    /// Time to open a connection, over the requests that opened one.
    pub connect_ms: Option<Dist>,
    /// How connections were used; set by the load, not by `summarize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<super::http::ConnStats>,
    /// The server's kind and how it was known; set by the load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<super::profile::Detected>,
    /// Why output lengths are not fixed, when exact lengths were asked for and the server
    /// has no field for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_length: Option<String>,
    /// From the first send to the last end among measured requests, s.
    pub duration_s: f64,
    pub ttft_ms: Option<Dist>,
    /// Multi-turn loads: TTFT by turn (1-based), each turn's prompt carrying the history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttft_by_turn: Vec<(u32, Dist)>,
    pub itl_ms: Option<Dist>,
    pub tpot_ms: Option<Dist>,
    pub e2e_ms: Option<Dist>,
    /// TTFT as vLLM's chat client counts it: to the first SSE event, a role-only chunk
    /// included (rigor's TTFT waits for generated text).
    pub ttft_first_event_ms: Option<Dist>,
    /// Reasoning models, over the successful requests that reasoned: time to the first
    /// reasoning chunk and to the first answer chunk (the reasoning's length, in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_reasoning_ms: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_answer_ms: Option<Dist>,
    /// Requests that reasoned and never reached their answer (`output_len` too short).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub reasoned_unanswered: usize,
    /// The share of content chunks that carried reasoning, over those requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_chunk_share: Option<f64>,
    /// Σ cached prompt tokens / Σ prompt tokens over the successful requests, where the
    /// server says both (prefix caching at work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cached_fraction: Option<f64>,
    /// Reasoning tokens per request, where the server's usage gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<Dist>,
    /// How late each request was sent after its scheduled arrival, over the requests sent;
    /// open-loop loads only (the load clears it otherwise).
    pub send_lag_ms: Option<Dist>,
    /// TTFT and E2E from the scheduled time instead of the send: with open-loop arrivals,
    /// what a user arriving then would have waited, time spent queued in the client (a
    /// concurrency cap, a client fallen behind) included: corrected for coordinated
    /// omission. Set only for open-loop loads (the load clears them otherwise).
    pub ttft_sched_ms: Option<Dist>,
    pub e2e_sched_ms: Option<Dist>,
    pub req_s: f64,
    pub output_tok_s: Option<f64>,
    pub total_tok_s: Option<f64>,
    /// Σ prompt tokens of the successful requests / duration (prefill throughput; the only
    /// token rate of embeddings), when every one has its count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tok_s: Option<f64>,
    pub goodput_req_s: Option<f64>,
    /// The fraction of answered requests (ok or failed) that met every objective of the SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_fraction: Option<f64>,
    /// Why there is no goodput although an SLO was set: a part of it cannot be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_missing: Option<String>,
    pub error_rate: f64,
    /// Failed requests by kind.
    pub errors: std::collections::BTreeMap<String, usize>,
    /// Why token-based metrics are absent, when they are.
    pub tokens_missing: Option<String>,
    /// Where token counts came from: "server usage", "local tokenizer", or both.
    pub tokens_from: Option<String>,
}

pub fn summarize(records: &[RequestRecord], slo: &Slo) -> Summary {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let ok: Vec<&&RequestRecord> = measured.iter().filter(|r| r.ok()).collect();
    let cancelled = measured.iter().filter(|r| r.cancelled()).count();
    let answered = measured.len() - cancelled;
    // From the first request that was sent (one refused at connect has no send time).
    let start = measured
        .iter()
        .filter(|r| was_sent(r))
        .map(|r| r.sent_s)
        .fold(f64::INFINITY, f64::min);
    let end = measured
        .iter()
        .map(|r| r.end_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let duration_s = if measured.is_empty() {
        0.0
    } else {
        (end - start).max(0.0)
    };
    let per_s = |x: f64| {
        if duration_s > 0.0 {
            x / duration_s
        } else {
            0.0
        }
    };

    let ttft: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.first_token_s.map(|f| (f - r.sent_s) * 1e3))
        .collect();
    let e2e: Vec<f64> = ok.iter().map(|r| (r.end_s - r.sent_s) * 1e3).collect();
    let itl: Vec<f64> = ok
        .iter()
        .flat_map(|r| r.chunks_s.windows(2).map(|w| (w[1] - w[0]) * 1e3))
        .collect();
    let tpot_of = |r: &RequestRecord| -> Option<f64> {
        let n = r.output_tokens?;
        let f = r.first_token_s?;
        (n > 1).then(|| (r.end_s - f) * 1e3 / (n - 1) as f64)
    };
    let tpot: Vec<f64> = ok.iter().filter_map(|r| tpot_of(r)).collect();

    let all_have_tokens = !ok.is_empty() && ok.iter().all(|r| r.output_tokens.is_some());
    let tokens_missing = if ok.is_empty() {
        Some("no request succeeded".into())
    } else if !all_have_tokens {
        let zero = ok
            .iter()
            .filter(|r| r.output_tokens.is_none() && r.notes.iter().any(|n| n == "usage_zero"))
            .count();
        Some(if zero > 0 {
            format!(
                "the server reported 0 completion tokens for {zero} request(s) that streamed text (its count is wrong, not the text); give a `tokenizer` to count them"
            )
        } else {
            "the server returned no token usage for some requests, and no tokenizer was given"
                .into()
        })
    } else {
        None
    };
    let input_tok_s = (!ok.is_empty())
        .then(|| ok.iter().map(|r| r.input_tokens).sum::<Option<u64>>())
        .flatten()
        .map(|i| per_s(i as f64));
    let (output_tok_s, total_tok_s) = if tokens_missing.is_none() {
        let out: u64 = ok.iter().filter_map(|r| r.output_tokens).sum();
        let inp: Option<u64> = ok.iter().map(|r| r.input_tokens).sum();
        (
            Some(per_s(out as f64)),
            inp.map(|i| per_s((i + out) as f64)),
        )
    } else {
        (None, None)
    };
    // A part of the SLO no request can be judged on would make every request miss it: a
    // goodput of 0 that was never measured. Non-streamed requests have no first token, and
    // no time per output token without chunks or counts.
    let goodput_missing = if !slo.is_set() || ok.is_empty() {
        None
    } else if slo.ttft_ms.is_some() && ok.iter().all(|r| r.first_token_s.is_none()) {
        Some("the SLO has a TTFT limit, and no request had a first-token time (non-streamed requests have none): stream, or drop ttft_ms from the SLO".to_string())
    } else if slo.tpot_ms.is_some() && ok.iter().any(|r| r.output_tokens.is_none()) {
        Some(
            "the SLO has a TPOT limit, and some requests have no output token count to judge it by"
                .to_string(),
        )
    } else if slo.tpot_ms.is_some() && ok.iter().all(|r| r.first_token_s.is_none()) {
        Some("the SLO has a TPOT limit, and no request had a first-token time (non-streamed requests have none)".to_string())
    } else {
        None
    };
    // With no measured request there is no rate to give, not a goodput of 0.
    let good = (slo.is_set() && !measured.is_empty() && goodput_missing.is_none()).then(|| {
        ok.iter()
            .filter(|r| {
                let t = r.first_token_s.map(|f| (f - r.sent_s) * 1e3);
                let e = (r.end_s - r.sent_s) * 1e3;
                slo.ttft_ms.is_none_or(|l| t.is_some_and(|t| t <= l))
                        // One token or none has no time per output token to exceed
                        // (vLLM's benchmark counts it as meeting the limit too).
                        && slo.tpot_ms.is_none_or(|l| {
                            r.output_tokens.is_some_and(|n| n <= 1)
                                || tpot_of(r).is_some_and(|p| p <= l)
                        })
                        && slo.e2e_ms.is_none_or(|l| e <= l)
            })
            .count()
    });
    let goodput_req_s = good.map(|g| per_s(g as f64));
    let goodput_fraction = good
        .filter(|_| answered > 0)
        .map(|g| g as f64 / answered as f64);
    let mut errors = std::collections::BTreeMap::new();
    for r in measured.iter().filter(|r| !r.ok() && !r.cancelled()) {
        *errors
            .entry(r.error.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    let sources: std::collections::BTreeSet<&str> =
        ok.iter().filter_map(|r| r.tokens_from.as_deref()).collect();
    let tokens_from = match (sources.contains("server"), sources.contains("tokenizer")) {
        (true, true) => Some("server usage and local tokenizer".into()),
        (true, false) => Some("server usage".into()),
        (false, true) => Some("local tokenizer".into()),
        _ => None,
    };
    let mut notes = std::collections::BTreeMap::new();
    for n in measured.iter().flat_map(|r| &r.notes) {
        *notes.entry(n.clone()).or_insert(0) += 1;
    }
    let connect: Vec<f64> = measured.iter().filter_map(|r| r.connect_ms).collect();
    // Requests that reached a send (one refused at connect never did: its `sent_s` was
    // never set, and it has no lag).
    let sent = measured.iter().filter(|r| was_sent(r));
    let lag: Vec<f64> = sent.map(|r| (r.sent_s - r.scheduled_s) * 1e3).collect();
    let first_event: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.first_event_s.map(|f| (f - r.sent_s) * 1e3))
        .collect();
    let reasoned: Vec<&&RequestRecord> = ok
        .iter()
        .copied()
        .filter(|r| r.reasoning_chunks > 0)
        .collect();
    let since_send = |t: Option<f64>, r: &RequestRecord| t.map(|t| (t - r.sent_s) * 1e3);
    let ttft_reasoning: Vec<f64> = reasoned
        .iter()
        .filter_map(|r| since_send(r.first_reasoning_s, r))
        .collect();
    // Over every request that reasoned, or not at all: a median over the few that reached
    // their answer would read as the whole load's.
    let unanswered = reasoned
        .iter()
        .filter(|r| r.first_answer_s.is_none())
        .count();
    let ttft_answer: Vec<f64> = if unanswered == 0 {
        reasoned
            .iter()
            .filter_map(|r| since_send(r.first_answer_s, r))
            .collect()
    } else {
        Vec::new()
    };
    let all_chunks: usize = reasoned.iter().map(|r| r.chunks_s.len()).sum();
    let reasoning_chunk_share = (all_chunks > 0).then(|| {
        reasoned
            .iter()
            .map(|r| r.reasoning_chunks as f64)
            .sum::<f64>()
            / all_chunks as f64
    });
    let reasoning_tokens: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.reasoning_tokens.map(|n| n as f64))
        .collect();
    let with_cache: Vec<(u64, u64)> = ok
        .iter()
        // Both from the server: its cache count against its own prompt count.
        .filter(|r| r.tokens_from.as_deref() == Some("server"))
        .filter_map(|r| Some((r.cached_tokens?, r.input_tokens?)))
        .collect();
    let prompt_in: u64 = with_cache.iter().map(|c| c.1).sum();
    let prompt_cached_fraction = (!with_cache.is_empty() && prompt_in > 0)
        .then(|| with_cache.iter().map(|c| c.0).sum::<u64>() as f64 / prompt_in as f64);
    let ttft_sched: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.first_token_s.map(|f| (f - r.scheduled_s) * 1e3))
        .collect();
    let e2e_sched: Vec<f64> = ok.iter().map(|r| (r.end_s - r.scheduled_s) * 1e3).collect();
    Summary {
        tokens_from,
        requests: measured.len(),
        ok: ok.len(),
        failed: answered - ok.len(),
        cancelled,
        retries: measured.iter().map(|r| r.retries as usize).sum(),
        notes,
        connect_ms: dist(&connect),
        connections: None,
        server: None,
        exact_length: None,
        duration_s,
        ttft_ms: dist(&ttft),
        ttft_by_turn: {
            let mut by: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
            for r in &ok {
                if let (Some(t), Some(f)) = (r.turn, r.first_token_s) {
                    by.entry(t).or_default().push((f - r.sent_s) * 1e3);
                }
            }
            by.into_iter()
                .filter_map(|(t, v)| dist(&v).map(|d| (t, d)))
                .collect()
        },
        itl_ms: dist(&itl),
        tpot_ms: dist(&tpot),
        e2e_ms: dist(&e2e),
        ttft_first_event_ms: dist(&first_event),
        ttft_reasoning_ms: dist(&ttft_reasoning),
        ttft_answer_ms: dist(&ttft_answer),
        reasoned_unanswered: unanswered,
        reasoning_chunk_share,
        prompt_cached_fraction,
        reasoning_tokens: dist(&reasoning_tokens),
        send_lag_ms: dist(&lag),
        ttft_sched_ms: dist(&ttft_sched),
        e2e_sched_ms: dist(&e2e_sched),
        req_s: per_s(ok.len() as f64),
        output_tok_s,
        total_tok_s,
        input_tok_s,
        goodput_req_s,
        goodput_fraction,
        goodput_missing,
        error_rate: if answered == 0 {
            0.0
        } else {
            (answered - ok.len()) as f64 / answered as f64
        },
        errors,
        tokens_missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(i: usize, sent: f64, chunks: &[f64], end: f64, out: Option<u64>) -> RequestRecord {
        RequestRecord {
            index: i,
            sent_s: sent,
            scheduled_s: sent,
            first_token_s: chunks.first().copied(),
            chunks_s: chunks.to_vec(),
            end_s: end,
            input_tokens: Some(10),
            output_tokens: out,
            status: Some(200),
            ..Default::default()
        }
    }

    #[test]
    fn a_ttft_limit_on_unstreamed_requests_leaves_goodput_missing_not_zero() {
        // Non-streamed: no chunks, so no first-token time.
        let rs = vec![
            req(0, 0.0, &[], 0.2, Some(3)),
            req(1, 0.1, &[], 0.4, Some(3)),
        ];
        let s = summarize(&rs, &Slo::parse("ttft_ms<=200").unwrap());
        assert!(s.goodput_req_s.is_none());
        assert!(s.goodput_missing.as_deref().unwrap().contains("TTFT limit"));
        // An end-to-end limit can be judged on them.
        let s = summarize(&rs, &Slo::parse("e2e_ms<=250").unwrap());
        assert!(s.goodput_missing.is_none());
        assert!((s.goodput_req_s.unwrap() - 1.0 / 0.4).abs() < 1e-9);
    }

    #[test]
    fn latencies_throughput_and_goodput() {
        let rs = vec![
            req(0, 0.0, &[0.1, 0.15, 0.2], 0.2, Some(3)),
            req(1, 0.5, &[0.8, 0.9, 1.0], 1.0, Some(3)),
            RequestRecord {
                error: Some("http".into()),
                status: Some(500),
                ..req(2, 0.6, &[], 0.7, None)
            },
            RequestRecord {
                warmup: true,
                ..req(3, 0.0, &[5.0], 9.0, Some(1))
            },
        ];
        let s = summarize(&rs, &Slo::parse("ttft_ms<=200").unwrap());
        assert_eq!((s.requests, s.ok, s.failed), (3, 2, 1));
        assert!((s.duration_s - 1.0).abs() < 1e-12);
        let ttft = s.ttft_ms.unwrap();
        assert!((ttft.mean - 200.0).abs() < 1e-9 && (ttft.max - 300.0).abs() < 1e-9);
        // Pooled inter-chunk gaps: 50, 50, 100, 100 ms.
        let itl = s.itl_ms.unwrap();
        assert_eq!(itl.n, 4);
        assert!((itl.median - 75.0).abs() < 1e-9);
        // TPOT = (E2E − TTFT) / (tokens − 1): 50 and 100 ms.
        assert!((s.tpot_ms.unwrap().mean - 75.0).abs() < 1e-9);
        assert!((s.output_tok_s.unwrap() - 6.0).abs() < 1e-9);
        assert!((s.total_tok_s.unwrap() - 26.0).abs() < 1e-9);
        assert!((s.req_s - 2.0).abs() < 1e-9);
        // Only request 0 meets TTFT ≤ 200 ms: one of three answered (a failure misses).
        assert!((s.goodput_req_s.unwrap() - 1.0).abs() < 1e-9);
        assert!((s.goodput_fraction.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.errors["http"], 1);
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 90, 95, 99]) = 3, 7.6, 8.8, 9.76
        let d = dist(&[4.0, 1.0, 10.0, 3.0, 2.0]).unwrap();
        assert_eq!(d.median, 3.0);
        assert!((d.p90 - 7.6).abs() < 1e-12);
        assert!((d.p95 - 8.8).abs() < 1e-12);
        assert!((d.p99 - 9.76).abs() < 1e-12);
    }

    #[test]
    fn missing_usage_leaves_token_metrics_absent_with_the_reason() {
        let rs = vec![req(0, 0.0, &[0.1, 0.2], 0.2, None)];
        let s = summarize(&rs, &Slo::default());
        assert!(s.output_tok_s.is_none() && s.tpot_ms.is_none());
        assert!(s.tokens_missing.unwrap().contains("no token usage"));
        assert!(s.goodput_req_s.is_none());
        assert!(Slo::parse("ttft<=3").is_err() && Slo::parse("ttft_ms<=-1").is_err());
    }

    #[test]
    fn send_lag_and_latency_from_the_schedule_count_only_requests_that_were_sent() {
        let mut a = req(0, 0.15, &[0.25, 0.3], 0.35, Some(2));
        a.scheduled_s = 0.1;
        let mut refused = req(1, 0.0, &[], 0.2, None);
        refused.scheduled_s = 0.2;
        refused.sent_s = 0.0;
        refused.status = None;
        refused.error = Some("connect".into());
        let s = summarize(&[a, refused], &Slo::default());
        let lag = s.send_lag_ms.unwrap();
        assert_eq!(lag.n, 1);
        assert!((lag.median - 50.0).abs() < 1e-9);
        assert!((s.e2e_sched_ms.unwrap().median - 250.0).abs() < 1e-9);
        assert!((s.ttft_sched_ms.unwrap().median - 150.0).abs() < 1e-9);
        assert!((s.e2e_ms.unwrap().median - 200.0).abs() < 1e-9);
    }
}
