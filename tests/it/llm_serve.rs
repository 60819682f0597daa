//! `llm-serve` and `rigor serve-bench` against a real llama.cpp server (`llama-server`, built
//! by tests/llm/setup.sh from llama.cpp's sources on PyPI) serving a tiny random-weight
//! model. No mock server stands in for it.

use crate::common::{free_port, text, wait_for};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The server and model; builds them on first use (tests/llm/setup.sh), once per machine.
fn server_and_model() -> (PathBuf, PathBuf) {
    let bin = root().join("target/llm/bin/llama-server");
    let model = root().join("target/llm/tiny.gguf");
    let all_there =
        || bin.exists() && model.exists() && root().join("target/llm/gpt2-tokenizer.json").exists();
    if !all_there() {
        static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
        if !all_there() {
            let st = Command::new(root().join("tests/llm/setup.sh"))
                .status()
                .unwrap();
            assert!(
                st.success(),
                "tests/llm/setup.sh failed: the llm-serve tests need a real llama.cpp server"
            );
        }
    }
    (bin, model)
}

/// One server at a time: on a 2-core machine, parallel servers and loads would turn the
/// timing assertions into a test of the scheduler.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    crate::common::exclusive()
}

struct Llama {
    child: Child,
    port: u16,
}

impl Llama {
    fn start(extra: &[&str]) -> Llama {
        let (_, model) = server_and_model();
        Llama::start_with(&model, extra)
    }

    fn start_with(model: &Path, extra: &[&str]) -> Llama {
        let (bin, _) = server_and_model();
        let port = free_port();
        let child = Command::new(bin)
            .args([
                "-m",
                model.to_str().unwrap(),
                "--port",
                &port.to_string(),
                "--host",
                "127.0.0.1",
                "-c",
                "2048",
                "-np",
                "4",
                "--metrics",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut l = Llama { child, port };
        wait_for(Duration::from_secs(120), "ready llama-server", || {
            assert!(
                l.child.try_wait().unwrap().is_none(),
                "llama-server exited while starting"
            );
            health(port)
        });
        l
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET /health HTTP/1.0\r\n\r\n");
    let mut b = String::new();
    let _ = s.read_to_string(&mut b);
    b.starts_with("HTTP/1.1 200") || b.starts_with("HTTP/1.0 200")
}

/// A load's summary (`serve-bench --json`'s) says every one of its `n` requests succeeded.
fn all_served(summary: &serde_json::Value, n: u64) {
    assert_eq!(
        (summary["ok"].as_u64(), summary["failed"].as_u64()),
        (Some(n), Some(0)),
        "{summary}"
    );
}

fn rigor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args(args)
        .output()
        .unwrap()
}

/// Tokens the server says it generated during the load (its Prometheus counter deltas).
fn predicted_tokens(v: &serde_json::Value) -> f64 {
    v["server_counters"].as_object().map_or(0.0, |c| {
        c.iter()
            .filter(|(k, _)| k.contains("tokens_predicted_total"))
            .map(|(_, v)| v.as_f64().unwrap())
            .sum()
    })
}

fn bench_json(url: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let mut all = vec!["serve-bench", url, "--json"];
    all.extend_from_slice(args);
    let out = rigor(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

#[test]
fn streamed_completions_are_timed_and_counted_by_the_servers_usage() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--requests",
            "24",
            "--concurrency",
            "4",
            "--input_len",
            "24",
            "--output_len",
            "12",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sum = &v["summary"];
    assert_eq!(sum["ok"], 24, "{sum}");
    assert_eq!(sum["failed"], 0);
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 24);
    for r in reqs {
        // ignore_eos + max_tokens: exactly 12 tokens, streamed one per chunk except where the
        // server holds back a token that ends inside a UTF-8 character (random weights pick
        // byte tokens) and sends it with the next.
        assert_eq!(r["output_tokens"], 12, "{r}");
        let chunks = r["chunks_s"].as_array().unwrap().len();
        assert!((8..=12).contains(&chunks), "{r}");
        let input = r["input_tokens"].as_u64().unwrap();
        assert!((20..=60).contains(&input), "24 words → {input} tokens");
        let (sent, first, end) = (
            r["sent_s"].as_f64().unwrap(),
            r["first_token_s"].as_f64().unwrap(),
            r["end_s"].as_f64().unwrap(),
        );
        assert!(sent < first && first <= end, "{r}");
    }
    for d in ["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"] {
        assert!(sum[d]["mean"].as_f64().unwrap() > 0.0, "{d}: {sum}");
    }
    let gaps: usize = reqs
        .iter()
        .map(|r| r["chunks_s"].as_array().unwrap().len() - 1)
        .sum();
    assert_eq!(sum["itl_ms"]["n"], gaps);
    let tok_s = sum["output_tok_s"].as_f64().unwrap();
    let expect = 24.0 * 12.0 / sum["duration_s"].as_f64().unwrap();
    assert!((tok_s - expect).abs() < 1e-6 * expect);
    // The server's own counters (llama-server runs with --metrics) agree with the client's.
    let generated = predicted_tokens(&v);
    assert_eq!(generated, 24.0 * 12.0, "{}", v["server_counters"]);
}

#[test]
fn a_local_tokenizer_builds_prompts_of_exact_token_lengths() {
    let _serial = serial();
    let llm = root().join("target/llm");
    server_and_model();
    let s = Llama::start_with(&llm.join("tiny-gpt2.gguf"), &[]);
    let tok = llm.join("gpt2-tokenizer.json");
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--requests",
            "12",
            "--concurrency",
            "3",
            "--input_len",
            "57",
            "--lengths",
            "uniform",
            "--spread",
            "0.5",
            "--output_len",
            "6",
            "--tokenizer",
            tok.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let reqs = v["requests"].as_array().unwrap();
    // The server's own count of each prompt is the length rigor built it to: uniform in
    // [28, 86] here, and not all equal.
    let lens: Vec<u64> = reqs
        .iter()
        .map(|r| r["input_tokens"].as_u64().unwrap())
        .collect();
    assert!(lens.iter().all(|l| (28..=86).contains(l)), "{lens:?}");
    assert!(lens.iter().any(|&l| l != lens[0]), "{lens:?}");
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--requests",
            "5",
            "--input_len",
            "40",
            "--output_len",
            "6",
            "--tokenizer",
            tok.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["input_tokens"] == 40),
        "{}",
        v["requests"]
    );
    assert_eq!(v["summary"]["tokens_from"], "server usage");
}

#[test]
fn multi_turn_conversations_carry_their_history_and_time_each_turn() {
    let _serial = serial();
    let s = Llama::start(&["-np", "2"]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "chat",
            "--turns",
            "3",
            "--think-time",
            "50ms",
            "--concurrency",
            "2",
            "--requests",
            "6",
            "--input_len",
            "16",
            "--output_len",
            "8",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sum = &v["summary"];
    all_served(sum, 6);
    let by_turn = sum["ttft_by_turn"].as_array().unwrap();
    assert_eq!(by_turn.len(), 3, "{sum}");
    // Two conversations of three turns; each turn's prompt holds the conversation so far
    // (the server's own replies included), so its prompt grows turn by turn.
    let reqs = v["requests"].as_array().unwrap();
    for conv in 0..2u64 {
        let mut turns: Vec<&serde_json::Value> = reqs
            .iter()
            .filter(|r| r["conversation"].as_u64() == Some(conv))
            .collect();
        turns.sort_by_key(|r| r["turn"].as_u64());
        assert_eq!(turns.len(), 3, "conversation {conv}");
        for w in turns.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(
                b["input_tokens"].as_u64().unwrap()
                    > a["input_tokens"].as_u64().unwrap() + a["output_tokens"].as_u64().unwrap(),
                "history not carried: {a} then {b}"
            );
            // The next turn waits for the reply and the think time.
            assert!(
                b["sent_s"].as_f64().unwrap() >= a["end_s"].as_f64().unwrap() + 0.05,
                "{a} then {b}"
            );
        }
    }
    // From ShareGPT: each conversation's own human turns, in order.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sg.json");
    std::fs::write(
        &file,
        r#"[{"conversations": [{"from": "human", "value": "name three colours"}, {"from": "gpt", "value": "red green blue"},
                               {"from": "human", "value": "and three more please"}, {"from": "gpt", "value": "cyan magenta yellow"}]},
            {"conversations": [{"from": "human", "value": "count to four"}, {"from": "gpt", "value": "one two three four"},
                               {"from": "human", "value": "now backwards"}, {"from": "gpt", "value": "four three two one"}]}]"#,
    )
    .unwrap();
    let dataset = format!("sharegpt:{}", file.display());
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "chat",
            "--turns",
            "2",
            "--dataset",
            &dataset,
            "--requests",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 4);
    for pair in reqs.chunks(2) {
        assert_eq!(
            (pair[0]["turn"].as_u64(), pair[1]["turn"].as_u64()),
            (Some(1), Some(2))
        );
        assert!(
            pair[1]["input_tokens"].as_u64() > pair[0]["input_tokens"].as_u64(),
            "{pair:?}"
        );
    }
    // Warm-up is whole conversations, finished before any measured one starts.
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "chat",
            "--turns",
            "2",
            "--warmup-requests",
            "2",
            "--requests",
            "4",
            "--concurrency",
            "2",
            "--output_len",
            "8",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let reqs = v["requests"].as_array().unwrap();
    let (warm, measured): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        reqs.iter().partition(|r| r["warmup"] == true);
    assert_eq!((warm.len(), measured.len()), (2, 4));
    let warm_end = warm
        .iter()
        .map(|r| r["end_s"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(
        measured
            .iter()
            .all(|r| r["sent_s"].as_f64().unwrap() >= warm_end),
        "a measured turn went out beside the warm-up: {reqs:?}"
    );
    // Settings that cannot make the load asked for are refused with the reason.
    for (args, says) in [
        (
            &["--turns", "3", "--requests", "6", "--concurrency", "4"][..],
            "raise requests",
        ),
        (
            &["--turns", "2", "--warmup-requests", "1", "--requests", "4"][..],
            "multiple of turns",
        ),
        (
            &[
                "--turns",
                "2",
                "--prefixes",
                "2",
                "--prefix-len",
                "8",
                "--requests",
                "4",
            ][..],
            "remove `prefixes`",
        ),
    ] {
        let mut all = vec!["--endpoint", "chat"];
        all.extend_from_slice(args);
        let (out, _) = bench_json(&s.url(), &all);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    // A rate cannot schedule turns that follow replies: refused with the reason.
    let (out, _) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "chat",
            "--turns",
            "2",
            "--rate",
            "5",
            "--requests",
            "4",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("use `concurrency`"), "{}", text(&out));
}

#[test]
fn chat_without_streaming_has_usage_but_no_first_token_time() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "chat",
            "--stream",
            "false",
            "--requests",
            "6",
            "--output_len",
            "8",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sum = &v["summary"];
    assert_eq!(sum["ok"], 6);
    assert!(sum["ttft_ms"].is_null() && sum["itl_ms"].is_null());
    assert!(sum["e2e_ms"]["mean"].as_f64().unwrap() > 0.0);
    assert!(
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["output_tokens"] == 8)
    );
}

/// Shared prefixes (issue 19) against the real server's prompt cache: llama.cpp reports the
/// prompt tokens it reused (`timings.cache_n`); with 2 prefixes of 200 words before 16-word
/// suffixes most of each prompt comes from the cache, without them almost none does.
#[test]
fn shared_prefixes_are_served_from_the_prompt_cache_and_the_share_is_measured() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let cached = |extra: &[&str]| {
        let mut args = vec![
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--input_len",
            "16",
            "--output_len",
            "4",
        ];
        args.extend_from_slice(extra);
        let (out, v) = bench_json(&s.url(), &args);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(v["summary"]["failed"].as_u64(), Some(0), "{}", v["summary"]);
        v
    };
    let plain = cached(&[]);
    let shared = cached(&["--prefixes", "2", "--prefix_len", "200"]);
    let frac = |v: &serde_json::Value| v["summary"]["prompt_cached_fraction"].as_f64().unwrap();
    assert!(frac(&plain) < 0.2, "{}", plain["summary"]);
    assert!(frac(&shared) > 0.6, "{}", shared["summary"]);
    // Every prompt starts with one of the two prefixes: 200 words more than without.
    let inputs = |v: &serde_json::Value| -> Vec<u64> {
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["input_tokens"].as_u64().unwrap())
            .collect()
    };
    assert!(
        inputs(&shared).iter().all(|&n| n >= 216),
        "{:?}",
        inputs(&shared)
    );
}

/// Trace replay (issue 19): a Mooncake-layout trace of 250 requests at 50/s is sent on its
/// own schedule (send lag reported), twice as fast with `trace_speed = 2`; a trace out of
/// time order is refused with its line.
#[test]
fn a_trace_is_replayed_on_its_schedule() {
    let _serial = serial();
    let s = Llama::start(&["-np", "8"]);
    let dir = tempfile::tempdir().unwrap();
    let mut t = 0.0f64;
    let mut lines = String::new();
    let mut offsets = Vec::new();
    for i in 0..250u64 {
        // Deterministic, uneven gaps averaging 20 ms; blocks shared by every third request.
        t += 5.0 + ((i * 7919) % 31) as f64;
        offsets.push(t);
        lines.push_str(&format!(
            "{{\"timestamp\": {t}, \"input_length\": {}, \"output_length\": 4, \"hash_ids\": [{}, {}]}}\n",
            8 + i % 16,
            i % 3,
            100 + i
        ));
    }
    let trace = dir.path().join("trace.jsonl");
    std::fs::write(&trace, lines).unwrap();
    let dataset = format!("trace:{}", trace.display());
    for speed in ["1", "2"] {
        let (out, v) = bench_json(
            &s.url(),
            &[
                "--dataset",
                &dataset,
                "--requests",
                "0",
                "--trace_speed",
                speed,
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let sm = &v["summary"];
        all_served(sm, 250);
        let k: f64 = speed.parse().unwrap();
        for (r, at) in v["requests"].as_array().unwrap().iter().zip(&offsets) {
            let want = (at - offsets[0]) / 1e3 / k;
            assert!(
                (r["scheduled_s"].as_f64().unwrap() - want).abs() < 1e-6,
                "{r}"
            );
        }
        let p99 = sm["send_lag_ms"]["p99"].as_f64().unwrap();
        assert!(p99 < 20.0, "send lag p99 {p99} ms: {sm}");
    }
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"timestamp\": 10, \"input_length\": 4, \"output_length\": 2}\n{\"timestamp\": 5, \"input_length\": 4, \"output_length\": 2}\n",
    )
    .unwrap();
    let bad = format!("trace:{}", dir.path().join("bad.jsonl").display());
    let (out, _) = bench_json(&s.url(), &["--dataset", &bad, "--requests", "0"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("request 2 of the trace comes before"),
        "{}",
        text(&out)
    );
}

/// The client's floor (issue 19): the same load against rigor's own trivial loopback
/// endpoint, beside the real server's figures, and well below them.
#[test]
fn the_client_floor_is_measured_beside_the_server() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--requests",
            "24",
            "--concurrency",
            "4",
            "--output_len",
            "8",
            "--floor",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (fl, sm) = (&v["floor"], &v["summary"]);
    all_served(fl, 24);
    let ttft = |x: &serde_json::Value| x["ttft_ms"]["median"].as_f64().unwrap();
    assert!(
        ttft(fl) < ttft(sm),
        "floor {} ms, server {} ms",
        ttft(fl),
        ttft(sm)
    );
    assert!(
        fl["req_s"].as_f64().unwrap() > sm["req_s"].as_f64().unwrap(),
        "{fl}"
    );
}

/// Embeddings (`/v1/embeddings`, issue 19) against the real server: each request timed to
/// its response, its input tokens from the server's usage, and no token rate invented.
#[test]
fn embeddings_are_timed_to_their_response_with_no_tokens_invented() {
    let _serial = serial();
    let s = Llama::start(&["--embeddings", "--pooling", "mean"]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "embeddings",
            "--requests",
            "12",
            "--concurrency",
            "3",
            "--input_len",
            "16",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sm = &v["summary"];
    all_served(sm, 12);
    assert!(sm["e2e_ms"]["median"].as_f64().unwrap() > 0.0, "{sm}");
    assert!(
        sm["ttft_ms"].is_null() && sm["output_tok_s"].is_null(),
        "{sm}"
    );
    // What was measured: the prompts' tokens per second.
    assert!(sm["input_tok_s"].as_f64().unwrap() > 0.0, "{sm}");
    assert!(
        sm["tokens_missing"]
            .as_str()
            .unwrap()
            .contains("embedding request generates no tokens"),
        "{sm}"
    );
    for r in v["requests"].as_array().unwrap() {
        assert!(r["input_tokens"].as_u64().unwrap() >= 16, "{r}");
        assert!(
            r["output_tokens"].is_null() && r["chunks_s"].as_array().unwrap().is_empty(),
            "{r}"
        );
    }
    // Vectors sent as base64 (llama.cpp honours `encoding_format`) are answers too.
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--endpoint",
            "embeddings",
            "--requests",
            "6",
            "--input_len",
            "16",
            "--extra-body",
            r#"{"encoding_format": "base64"}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sm = &v["summary"];
    all_served(sm, 6);
}

#[test]
fn a_poisson_rate_is_kept_and_a_capped_rate_never_exceeds_its_cap() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--rate",
            "40",
            "--requests",
            "40",
            "--output_len",
            "4",
            "--seed",
            "7",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let reqs = v["requests"].as_array().unwrap();
    let sched: Vec<f64> = reqs
        .iter()
        .map(|r| r["scheduled_s"].as_f64().unwrap())
        .collect();
    // 40 arrivals at 40/s span about a second; each request is sent on schedule.
    let span = sched.last().unwrap() - sched[0];
    assert!((0.4..2.5).contains(&span), "span {span}");
    for r in reqs {
        let lag = r["sent_s"].as_f64().unwrap() - r["scheduled_s"].as_f64().unwrap();
        assert!((0.0..0.05).contains(&lag), "sent {lag} s late: {r}");
    }
    // The summary says the same: the send lag's percentiles, in ms.
    let p99 = v["summary"]["send_lag_ms"]["p99"].as_f64().unwrap();
    assert!((0.0..50.0).contains(&p99), "send lag p99 {p99} ms");
    let (out, v) = bench_json(
        &s.url(),
        &[
            "--rate",
            "200",
            "--max_concurrency",
            "2",
            "--requests",
            "20",
            "--output_len",
            "6",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Held back by the cap, requests waited in the client: latency from their scheduled
    // arrival (coordinated omission corrected) exceeds latency from their send, by the
    // send lag the summary reports.
    let sm = &v["summary"];
    let (e2e, e2e_sched, lag) = (
        sm["e2e_ms"]["median"].as_f64().unwrap(),
        sm["e2e_sched_ms"]["median"].as_f64().unwrap(),
        sm["send_lag_ms"]["median"].as_f64().unwrap(),
    );
    assert!(
        e2e_sched > e2e && lag > 0.0,
        "e2e {e2e}, from schedule {e2e_sched}, lag {lag}"
    );
    let reqs = v["requests"].as_array().unwrap();
    let spans: Vec<(f64, f64)> = reqs
        .iter()
        .map(|r| (r["sent_s"].as_f64().unwrap(), r["end_s"].as_f64().unwrap()))
        .collect();
    for &(t, _) in &spans {
        let in_flight = spans.iter().filter(|&&(a, b)| a <= t && t < b).count();
        assert!(in_flight <= 2, "{in_flight} in flight at {t}");
    }
    // Held back that far by the cap, the client says so, and does not call it falling behind.
    let url = s.url();
    let capped = rigor(&[
        "serve-bench",
        &url,
        "--rate",
        "200",
        "--max_concurrency",
        "1",
        "--requests",
        "20",
        "--output_len",
        "6",
    ]);
    assert!(capped.status.success(), "{}", text(&capped));
    assert!(
        text(&capped).contains("requests waited for the --max-concurrency cap (send lag p99")
            && !text(&capped).contains("fell behind"),
        "{}",
        text(&capped)
    );
}

#[test]
fn refused_connections_timeouts_and_a_killed_server_are_each_accounted_for() {
    let _serial = serial();
    // Nothing listens on this port: every request fails as `connect`, quickly.
    let port = free_port();
    let start = Instant::now();
    let (out, v) = bench_json(&format!("http://127.0.0.1:{port}"), &["--requests", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["summary"]["failed"], 5);
    assert_eq!(v["summary"]["errors"]["connect"], 5);
    assert!(start.elapsed() < Duration::from_secs(10));

    let s = Llama::start(&[]);
    let (out, v) = bench_json(
        &s.url(),
        &["--requests", "3", "--output_len", "400", "--timeout", "1ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["summary"]["errors"]["timeout"], 3, "{}", v["summary"]);

    // Kill the server while 200 requests are under way: every one ends ok or failed.
    let mut s = s;
    let child = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "serve-bench",
            &s.url(),
            "--json",
            "--requests",
            "200",
            "--concurrency",
            "4",
            "--output_len",
            "64",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.child.kill().unwrap();
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the load must not hang on a dead server"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = &v["summary"];
    assert_eq!(sum["requests"], 200, "{sum}");
    assert_eq!(
        sum["ok"].as_u64().unwrap() + sum["failed"].as_u64().unwrap(),
        200
    );
    assert!(sum["failed"].as_u64().unwrap() > 0);
    for r in v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["error"].is_null())
    {
        assert!(
            ["connect", "send", "stream", "body"].contains(&r["error"].as_str().unwrap()),
            "{r}"
        );
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

/// A CA and a `localhost` certificate it signed, made with the openssl CLI.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new(crate::common::require("openssl", "openssl"))
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=rigor test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

#[test]
fn https_endpoints_are_timed_through_real_tls_and_an_untrusted_certificate_fails_every_request() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    // socat terminates TLS in front of the real server, as a TLS proxy or ingress would.
    let port = free_port();
    let mut socat = Command::new(crate::common::require("socat", "socat"))
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{}", s.port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), "socat listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let url = format!("https://localhost:{port}");
    let (out, v) = bench_json(
        &url,
        &[
            "--requests",
            "8",
            "--concurrency",
            "2",
            "--output_len",
            "8",
            "--ca_file",
            ca.to_str().unwrap(),
        ],
    );
    let (out2, v2) = bench_json(&url, &["--requests", "3"]);
    let _ = socat.kill();
    let _ = socat.wait();
    assert!(out.status.success(), "{}", text(&out));
    let sum = &v["summary"];
    assert_eq!(sum["ok"], 8, "{sum}");
    assert!(sum["ttft_ms"]["mean"].as_f64().unwrap() > 0.0, "{sum}");
    for r in v["requests"].as_array().unwrap() {
        assert_eq!(r["output_tokens"], 8, "{r}");
    }
    // /metrics is scraped through the same TLS trust.
    let generated = predicted_tokens(&v);
    assert_eq!(generated, 64.0, "{}", v["server_counters"]);
    // Without the CA, the certificate is not trusted: every request fails and says why.
    assert_eq!(out2.status.code(), Some(1), "{}", text(&out2));
    assert_eq!(v2["summary"]["errors"]["connect"], 3, "{}", v2["summary"]);
    for r in v2["requests"].as_array().unwrap() {
        let m = r["message"].as_str().unwrap_or("");
        assert!(m.contains("certificate"), "{m}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn an_experiment_owns_a_fresh_server_per_trial_and_stores_every_request() {
    let _serial = serial();
    let (bin, model) = server_and_model();
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "serve.toml",
        &format!(
            r#"
[experiment]
name = "serve"
trials = 2
order = "interleaved"

[[variant]]
name = "one-slot"
params = {{ slots = 1 }}

[[variant]]
name = "four-slots"
params = {{ slots = 4 }}

[[workload]]
name = "load"
kind = "llm-serve"
server_command = "{} -m {} --host 127.0.0.1 --port {{port}} -c 2048 -np {{slots}} --metrics"
concurrency = "{{clients}}"
params = {{ clients = [2, 4] }}
requests = 16
input_len = 16
output_len = 8
slo = "ttft_ms<=10000"
"#,
            bin.display(),
            model.display()
        ),
    );
    let store = dir.path().join("r.db");
    let out = rigor(&[
        "run",
        f.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--progress",
        "lines",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let db = rusqlite::Connection::open(&store).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM trial WHERE status = 'ok'"), 8);
    for m in [
        "llm.ttft_ms.p99",
        "llm.itl_ms.median",
        "llm.tpot_ms.mean",
        "llm.e2e_ms.p90",
        "llm.output_tok_s",
        "llm.req_s",
        "llm.goodput_req_s",
        "llm.error_rate",
    ] {
        assert_eq!(
            count(&format!("SELECT count(*) FROM metric WHERE name = '{m}'")),
            8,
            "{m}"
        );
    }
    // The server's Prometheus counters, as deltas over the load.
    let predicted: f64 = db
        .query_row("SELECT value FROM metric WHERE name = 'server.llamacpp:tokens_predicted_total' LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(predicted, 16.0 * 8.0);
    // The load is the trial's window, marked by the probe: its time is the load's
    // duration, and the host's readings are taken over it as well as over the trial.
    let mut st = db
        .prepare("SELECT w.value, d.value FROM metric w JOIN metric d ON d.trial_id = w.trial_id AND d.name = 'llm.duration_s' WHERE w.name = 'window_time'")
        .unwrap();
    let pairs: Vec<(f64, f64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(pairs.len(), 8);
    for (w, d) in pairs {
        assert!((w - d).abs() <= 0.05 + 0.05 * d, "window {w} s, load {d} s");
    }
    // Each trial has it, or says it spanned too few of the kernel's 10 ms ticks (a short
    // load on a busy machine).
    assert_eq!(
        count("SELECT count(*) FROM metric WHERE name = 'window.host.cpu_util_pct.mean'")
            + count(
                "SELECT count(*) FROM missing_metric WHERE name = 'window.host.cpu_util_pct.mean' AND reason LIKE '%kernel''s CPU accounting (10 ms ticks)%'"
            ),
        8
    );
    // Every request of every trial, stored.
    assert_eq!(count("SELECT count(*) FROM request"), 8 * 16);
    assert_eq!(
        count(
            "SELECT count(*) FROM request WHERE error IS NULL AND output_tokens = 8 AND length(chunks_s) BETWEEN 8 * 5 AND 8 * 8"
        ),
        8 * 16
    );
    let report = rigor(&["report", store.to_str().unwrap()]);
    let md = String::from_utf8_lossy(&report.stdout);
    assert!(
        md.contains("llm.ttft_ms.mean") && md.contains("four-slots"),
        "{md}"
    );
    // The client floor, measured once for the session against rigor's own trivial endpoint,
    // is kept with the environment and stated as the floor, not as the server's numbers.
    let env: String = db
        .query_row("SELECT environment FROM session", [], |r| r.get(0))
        .unwrap();
    let env: serde_json::Value = serde_json::from_str(&env).unwrap();
    let floor = &env["client_floor"]["load"];
    assert_eq!(floor["failed"], 0, "{floor}");
    assert_eq!(floor["requests"], 16, "{floor}");
    let ttft = floor["ttft_ms"]["median"].as_f64().unwrap();
    assert!(ttft > 0.0 && ttft < 50.0, "floor TTFT {ttft} ms");
    assert!(
        md.contains("- client floor, `load`: ttft_ms median")
            && md.contains("the measurement floor on this machine, not the server's"),
        "{md}"
    );
    // The serving figures: TTFT CDFs from the stored requests, and latency against
    // throughput over the clients sweep.
    let out_dir = dir.path().join("rep");
    let r = rigor(&[
        "report",
        store.to_str().unwrap(),
        "--format",
        "html",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    for f in [
        "ttft-cdf-load",
        "latency-throughput-load",
        "sweep-load-clients",
    ] {
        assert!(out_dir.join(format!("figures/{f}.svg")).exists(), "{f}");
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"fig-ttft-cdf-load\""));
}

/// The reliability check of the load generator: a healthy server must see no failed,
/// stalled or retried request, at one client, at its slot count and far beyond it.
#[test]
fn a_healthy_server_gets_no_invented_failure_at_1_4_and_64_clients() {
    let _serial = serial();
    let s = Llama::start(&[]);
    for clients in ["1", "4", "64"] {
        for round in 0..3 {
            let (out, v) = bench_json(
                &s.url(),
                &[
                    "--concurrency",
                    clients,
                    "--requests",
                    "300",
                    "--input_len",
                    "16",
                    "--output_len",
                    "4",
                ],
            );
            let sum = &v["summary"];
            let at = format!("{clients} clients, round {round}: {sum}");
            assert!(out.status.success(), "{at}\n{}", text(&out));
            assert_eq!(sum["ok"], 300, "{at}");
            assert_eq!(sum["failed"], 0, "{at}");
            assert_eq!(sum["retries"], 0, "{at}");
            // No stall: a request that waited for nothing would show as a long one (these
            // take milliseconds, or a second on a machine busy with other work).
            assert!(sum["e2e_ms"]["max"].as_f64().unwrap() < 20_000.0, "{at}");
            // Told apart without being told, by its Server header.
            assert_eq!(sum["server"]["server"], "llama.cpp", "{at}");
            // llama.cpp closes each connection after a streamed response, unannounced.
            assert_eq!(
                sum["connections"]["opened"], 300,
                "{at}: a closed connection was reused"
            );
        }
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// A server that stops answering (SIGSTOP: it accepts connections but sends nothing) is
/// reported as such, on time: mid-stream requests as `stalled`; a duration-bound load ends
/// at its duration, its unanswered requests cancelled, not waited for.
#[test]
fn a_hanging_server_stalls_requests_and_a_duration_ends_on_time() {
    let _serial = serial();
    // Room for long generations: 8192 tokens per slot (later flags override earlier ones).
    let s = Llama::start(&["-c", "16384", "-np", "2"]);
    let child = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "serve-bench",
            &s.url(),
            "--json",
            "--requests",
            "2",
            "--concurrency",
            "2",
            "--output_len",
            "8000",
            "--stall_timeout",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    signal(&s.child, libc::SIGSTOP);
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    let waited = start.elapsed();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["summary"]["errors"]["stalled"], 2, "{}", v["summary"]);
    // 1 s to notice the stall, and at most 2 s for the /metrics scrape that follows a load.
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let m = v["requests"][0]["message"].as_str().unwrap();
    assert!(m.contains("no byte for 1 s"), "{m}");

    // Still stopped: nothing is answered, and the duration still ends the load.
    let start = Instant::now();
    let (out, v) = bench_json(
        &s.url(),
        &["--duration", "2s", "--requests", "0", "--concurrency", "2"],
    );
    let took = start.elapsed();
    signal(&s.child, libc::SIGCONT);
    // 2 s of load after at most 2 s for asking which server it is (it did not answer, so
    // it is asked nothing more).
    assert!(
        took < Duration::from_secs(6),
        "a 2 s load took {took:?}: it waited for the request timeout"
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["summary"]["cancelled"], 2, "{}", v["summary"]);
    assert_eq!(v["summary"]["failed"], 0, "{}", v["summary"]);
    assert!(
        text(&out).contains("no request completed: all 2 were still in flight"),
        "{}",
        text(&out)
    );
}

/// A trial whose every request failed measured nothing: it fails, with the reason. A server
/// that dies mid-load fails its trial with how it died, and the requests that ended before
/// are stored.
#[test]
fn a_trial_with_no_successful_request_or_a_dead_server_fails_and_keeps_its_requests() {
    let _serial = serial();
    let (bin, model) = server_and_model();
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let f = write(
        dir.path(),
        "fail.toml",
        &format!(
            r#"
[experiment]
name = "fail"
trials = 1

[[variant]]
name = "v"

[[workload]]
name = "nobody"
kind = "llm-serve"
url = "http://127.0.0.1:{closed}"
requests = 5

[[workload]]
name = "dies"
kind = "llm-serve"
server_command = "timeout -s KILL 3 {} -m {} --host 127.0.0.1 --port {{port}} -c 2048 -np 2"
concurrency = 2
requests = 5000
input_len = 8
output_len = 16
"#,
            bin.display(),
            model.display()
        ),
    );
    let store = dir.path().join("r.db");
    let out = rigor(&[
        "run",
        f.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let db = rusqlite::Connection::open(&store).unwrap();
    let reason = |cell: &str| -> String {
        db.query_row(
            "SELECT status || ': ' || reason FROM trial WHERE cell_key LIKE ?1",
            [cell],
            |r| r.get(0),
        )
        .unwrap()
    };
    let r = reason("v/nobody%");
    assert!(
        r.starts_with("failed:") && r.contains("every request failed: 5 connect"),
        "{r}"
    );
    let r = reason("v/dies%");
    assert!(
        r.starts_with("failed:")
            && r.contains("the server died during the load")
            && r.contains("SIGKILL"),
        "{r}"
    );
    let stored: i64 = db
        .query_row(
            "SELECT count(*) FROM request JOIN trial ON trial.id = request.trial_id
             WHERE trial.cell_key LIKE 'v/dies%' AND request.error IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored > 0,
        "the requests that ended before the death are kept"
    );
}

#[test]
fn capacity_searches_a_real_server_and_keeps_every_trial() {
    let _serial = serial();
    let s = Llama::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("trials.jsonl");
    let load = ["--requests", "8", "--output-len", "8", "--cooldown", "0s"];
    // An objective every level meets: the search doubles to --max, and the verification
    // can show where it holds but nowhere that it fails.
    let mut args = vec![
        "capacity",
        s.url().leak(),
        "--objective",
        "e2e_ms.p99<=60000",
        "--start",
        "4",
        "--max",
        "16",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    args.extend(load);
    let out = rigor(&args);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &v["outcome"];
    assert_eq!(o["lower"]["level"], 16.0, "{o}");
    assert!(o["upper"].is_null() && o["estimate"].is_null(), "{o}");
    assert!(
        o["notes"][0].as_str().unwrap().contains("no upper end"),
        "{o}"
    );
    let trials = o["trials"].as_array().unwrap();
    let verified: Vec<f64> = trials
        .iter()
        .filter(|t| t["phase"] == "verify")
        .map(|t| t["level"].as_f64().unwrap())
        .collect();
    // Brackets at 4, 8 and 16 (two trials each); three verified levels of three trials.
    assert_eq!(trials.len() - verified.len(), 6, "{o}");
    assert_eq!(verified.len(), 9);
    for level in [8.0, 12.0, 16.0] {
        assert_eq!(verified.iter().filter(|&&l| l == level).count(), 3);
    }
    // Every trial is in the journal as it finished, its objective's value with it.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), trials.len());
    let mut seeds: Vec<u64> = lines.iter().map(|l| l["seed"].as_u64().unwrap()).collect();
    seeds.dedup();
    assert_eq!(seeds.len(), lines.len(), "each trial draws its own prompts");
    for l in &lines {
        assert!(l["z"].as_f64().unwrap() < 0.0, "{l}");
        assert!(l["values"]["e2e_ms.p99"].as_f64().unwrap() > 0.0, "{l}");
        assert_eq!(l["load"]["summary"]["failed"], 0, "{l}");
    }
    // A metric the load cannot measure, and one that does not exist, stop the search at
    // its first trial with the reason.
    for (objective, extra, says) in [
        ("ttft_ms.p99<=100", ["--stream", "false"], "not measured"),
        (
            "tfft_ms.p99<=100",
            ["--stream", "true"],
            "is not a metric of this load",
        ),
        // A share of requests cannot be judged on a trial's log ratio to its limit.
        (
            "goodput_fraction>=0.99",
            ["--slo", "e2e_ms<=60000"],
            "share of requests",
        ),
    ] {
        let mut args = vec!["capacity", s.url().leak(), "--objective", objective];
        args.extend(load);
        args.extend(extra);
        let out = rigor(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        // Named by the trial that stopped the search, at its first level.
        assert!(err.contains("trial 1 at 1 req/s"), "{err}");
    }
}

#[test]
fn capacity_searches_each_variant_of_an_experiment_file_with_its_own_server() {
    let _serial = serial();
    let (bin, model) = server_and_model();
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "cap.toml",
        &format!(
            r#"
[experiment]
name = "cap"
seed = 40

[[variant]]
name = "one-slot"
params = {{ slots = 1 }}

[[variant]]
name = "four-slots"
params = {{ slots = 4 }}

[[workload]]
name = "load"
kind = "llm-serve"
server_command = "{} -m {} --host 127.0.0.1 --port {{port}} -c 2048 -np {{slots}}"
requests = 6
input_len = 16
output_len = 8
"#,
            bin.display(),
            model.display()
        ),
    );
    let journal = dir.path().join("cap.jsonl");
    let args = [
        "capacity",
        f.to_str().unwrap(),
        "--objective",
        "e2e_ms.p99<=60000",
        "--start",
        "4",
        "--max",
        "8",
        "--search-trials",
        "1",
        "--trials",
        "2",
        "--cooldown",
        "0s",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    let out = rigor(&args);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let searches = v["searches"].as_array().unwrap();
    let cells: Vec<&str> = searches
        .iter()
        .map(|s| s["cell"].as_str().unwrap())
        .collect();
    assert_eq!(cells.len(), 2, "{v}");
    assert!(
        cells.iter().any(|c| c.starts_with("one-slot/load")),
        "{cells:?}"
    );
    assert!(
        cells.iter().any(|c| c.starts_with("four-slots/load")),
        "{cells:?}"
    );
    for s in searches {
        let o = &s["outcome"];
        assert_eq!(o["lower"]["level"], 8.0, "{o}");
        // Bracket at 4 and 8, one trial each; 4, 6 and 8 verified twice.
        assert_eq!(o["trials"].as_array().unwrap().len(), 8, "{o}");
    }
    // Each trial ran as the cell's own probe, its server started with the variant's slots.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 16);
    for l in &lines {
        assert_eq!(l["load"]["exit"], "Exited(0)", "{l}");
        assert!(l["z"].as_f64().unwrap() < 0.0, "{l}");
        assert!(
            [4.0, 6.0, 8.0].contains(&l["level"].as_f64().unwrap()),
            "{l}"
        );
        assert!(
            l["load"]["stdout"]
                .as_str()
                .unwrap()
                .contains(r#""requests":6"#),
            "{l}"
        );
    }
    // The load is the file's: a serve-bench flag beside it is refused, not ignored.
    let mut with_flag = args.to_vec();
    with_flag.extend(["--requests", "50"]);
    let out = rigor(&with_flag);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set `requests` in the file"),
        "{}",
        text(&out)
    );
}
