//! Servers as they are: streams recorded from live servers (tests/fixtures/streams, each
//! with the command that recorded it) replayed with their recorded timing to the real
//! `rigor serve-bench`, and variations of them edited here (named in each test), so that
//! every accent is measured and none is counted as a failure. The live llama.cpp server
//! is tested in tests/llm_serve.rs; these are the servers CI cannot run.

use crate::common::text;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One recorded exchange: the response's status line and headers, and its body as it
/// arrived (seconds after the send, bytes), de-chunked.
#[derive(Clone)]
struct Recording {
    head: String,
    chunked: bool,
    body: Vec<(f64, Vec<u8>)>,
    closed_after: bool,
    meta: serde_json::Value,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams")
}

fn load(name: &str) -> Recording {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    let mut lines = text.lines();
    let meta: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut raw: Vec<(f64, Vec<u8>)> = Vec::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        // Recorded as latin-1 text: each char is one byte.
        let bytes = v["data"]
            .as_str()
            .unwrap()
            .chars()
            .map(|c| c as u8)
            .collect();
        raw.push((v["t"].as_f64().unwrap(), bytes));
    }
    let all: Vec<u8> = raw.iter().flat_map(|(_, b)| b.clone()).collect();
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..head_end - 4]).into_owned();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    // Which body bytes each read carried: decode the chunked framing over the whole
    // stream, attributing every body byte to the read it arrived in.
    let mut owner = Vec::new();
    for (i, (_, b)) in raw.iter().enumerate() {
        owner.extend(std::iter::repeat_n(i, b.len()));
    }
    let mut per_read: Vec<Vec<u8>> = vec![Vec::new(); raw.len()];
    let mut at = head_end;
    if chunked {
        loop {
            let line_end = at + all[at..].windows(2).position(|w| w == b"\r\n").unwrap();
            let size_text = String::from_utf8_lossy(&all[at..line_end]);
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            let start = line_end + 2;
            for p in start..start + size {
                per_read[owner[p]].push(all[p]);
            }
            at = start + size + 2;
        }
    } else {
        for p in head_end..all.len() {
            per_read[owner[p]].push(all[p]);
        }
    }
    let body = raw
        .iter()
        .zip(per_read)
        .filter(|(_, b)| !b.is_empty())
        .map(|((t, _), b)| (*t, b))
        .collect();
    Recording {
        head,
        chunked,
        body,
        closed_after: meta["closed_after"].as_bool().unwrap(),
        meta,
    }
}

impl Recording {
    /// Every body segment with `from` replaced by `to` (an edit named by the test).
    fn edit(mut self, from: &str, to: &str) -> Recording {
        for (_, b) in &mut self.body {
            let s = String::from_utf8_lossy(b).replace(from, to);
            *b = s.into_bytes();
        }
        self
    }

    /// The body without the segments holding `needle` (e.g. the final `[DONE]`).
    fn drop_segments(mut self, needle: &str) -> Recording {
        for (_, b) in &mut self.body {
            let s = String::from_utf8_lossy(b).into_owned();
            // Keep whatever events of the segment do not hold it.
            let kept: Vec<&str> = s
                .split_inclusive("\n\n")
                .filter(|e| !e.contains(needle))
                .collect();
            *b = kept.concat().into_bytes();
        }
        self.body.retain(|(_, b)| !b.is_empty());
        self
    }

    fn respond(&self, s: &mut TcpStream) -> std::io::Result<()> {
        let mut head = String::new();
        for line in self.head.split("\r\n") {
            let l = line.to_ascii_lowercase();
            if l.starts_with("content-length:") || l.starts_with("transfer-encoding:") {
                continue;
            }
            head.push_str(line);
            head.push_str("\r\n");
        }
        if self.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else {
            let n: usize = self.body.iter().map(|(_, b)| b.len()).sum();
            head.push_str(&format!("Content-Length: {n}\r\n\r\n"));
        }
        let t0 = Instant::now();
        s.write_all(head.as_bytes())?;
        for (t, b) in &self.body {
            let due = Duration::from_secs_f64(*t);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
            if self.chunked {
                s.write_all(format!("{:x}\r\n", b.len()).as_bytes())?;
                s.write_all(b)?;
                s.write_all(b"\r\n")?;
            } else {
                s.write_all(b)?;
            }
        }
        if self.chunked {
            s.write_all(b"0\r\n\r\n")?;
        }
        s.flush()
    }
}

/// Serves `rec` to every POST (other requests get 404), keeping or closing the connection
/// after each response as the recorded server did. Returns the base URL.
fn replay(rec: Recording) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let rec = rec.clone();
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if !line.starts_with("POST") {
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                        continue;
                    }
                    if rec.respond(&mut s).is_err() || rec.closed_after {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn bench(url: &str, rec: &Recording, server: &str) -> (std::process::Output, serde_json::Value) {
    let endpoint = rec.meta["endpoint"].as_str().unwrap().to_string();
    let stream = rec.meta["stream"].as_bool().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "serve-bench",
            url,
            "--json",
            "--requests",
            "6",
            "--concurrency",
            "2",
            "--endpoint",
            &endpoint,
            "--stream",
            &stream,
            "--server",
            server,
        ])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

fn recordings() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    v.sort();
    v
}

/// The server's profile name, from the recording's file name (`<server>-…`).
fn server_of(name: &str) -> &str {
    name.split('-').next().unwrap()
}

#[test]
fn every_recorded_server_is_measured_with_no_failed_request() {
    let all = recordings();
    assert!(all.len() >= 3, "{all:?}");
    for name in &all {
        let rec = load(name);
        let url = replay(rec.clone());
        let (out, v) = bench(&url, &rec, server_of(name));
        let s = &v["summary"];
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert_eq!(
            (s["ok"].as_u64(), s["failed"].as_u64()),
            (Some(6), Some(0)),
            "{name}: {s}"
        );
        assert_eq!(s["retries"], 0, "{name}: {s}");
        assert!(s["e2e_ms"]["n"] == 6, "{name}: {s}");
        if rec.meta["stream"] == true {
            assert_eq!(s["ttft_ms"]["n"], 6, "{name}: {s}");
            // Replayed with the recorded timing: TTFT is the server's, give or take, to the
            // first chunk with text (transformers sends the role alone first).
            let has_text = |d: &[u8]| {
                let d = String::from_utf8_lossy(d);
                ["\"content\":\"", "\"text\":\""]
                    .iter()
                    .any(|k| d.split(k).skip(1).any(|rest| !rest.starts_with('"')))
            };
            let recorded = rec
                .body
                .iter()
                .find(|(_, d)| has_text(d))
                .map_or(rec.body[0].0, |(t, _)| *t)
                * 1e3;
            let median = s["ttft_ms"]["median"].as_f64().unwrap();
            assert!(
                median >= recorded * 0.8 && median < recorded + 50.0,
                "{name}: {median} vs {recorded}"
            );
        }
        assert!(s["output_tok_s"].as_f64().is_some(), "{name}: {s}");
        assert_eq!(s["server"]["server"], server_of(name), "{name}: {s}");
    }
}

#[test]
fn a_stream_without_done_that_ends_after_a_finish_reason_is_complete() {
    // Edited here: llama.cpp's chat stream with its final `data: [DONE]` event removed,
    // as transformers serve and some proxies send it.
    let rec = load("llama.cpp-chat-stream.jsonl").drop_segments("[DONE]");
    let url = replay(rec.clone());
    let (out, v) = bench(&url, &rec, "llama.cpp");
    let s = &v["summary"];
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["notes"]["no_done"], 6, "{s}");

    // Cut off instead: no [DONE], and no chunk with a finish reason either. That is a
    // broken stream, and it says so.
    let cut = load("llama.cpp-chat-stream.jsonl")
        .drop_segments("[DONE]")
        .drop_segments("\"finish_reason\":\"length\"");
    let url = replay(cut.clone());
    let (out, v) = bench(&url, &cut, "llama.cpp");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["summary"]["errors"]["stream"], 6, "{}", v["summary"]);
    let m = v["requests"][0]["message"].as_str().unwrap();
    assert!(m.contains("cut off"), "{m}");
}

#[test]
fn zero_completion_tokens_beside_streamed_text_is_flagged_not_believed() {
    // Edited here: the usage chunk of llama.cpp's completions stream says 0 tokens.
    let rec = load("llama.cpp-completions-stream.jsonl")
        .edit("\"completion_tokens\":16", "\"completion_tokens\":0");
    let url = replay(rec.clone());
    let (out, v) = bench(&url, &rec, "llama.cpp");
    let s = &v["summary"];
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s["notes"]["usage_zero"], 6, "{s}");
    assert!(
        s["output_tok_s"].is_null(),
        "no throughput from a count of 0: {s}"
    );
    assert!(
        s["tokens_missing"]
            .as_str()
            .unwrap()
            .contains("0 completion tokens for 6"),
        "{s}"
    );
}

#[test]
fn recordings_say_how_they_were_made() {
    for name in recordings() {
        let rec = load(&name);
        let note = rec.meta["note"].as_str().unwrap_or("");
        assert!(
            note.contains("record.py"),
            "{name}: the recording must name its command"
        );
    }
    assert!(Path::new(&fixtures().join("record.py")).exists());
}

/// Reasoning models (issue 19): a vLLM-style reasoning stream, synthetic because no CPU model
/// emits reasoning deltas (tests/fixtures/reasoning/make.py), replayed with its timing:
/// reasoning chunks from 30 ms, the answer from 150 ms, 6 reasoning chunks of 10.
#[test]
fn reasoning_and_answer_chunks_are_timed_apart() {
    let rec = load("../reasoning/vllm-reasoning-chat-stream.jsonl");
    let url = replay(rec.clone());
    let (out, v) = bench(&url, &rec, "vllm");
    assert!(out.status.success(), "{}", text(&out));
    let s = &v["summary"];
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(6), Some(0)),
        "{s}"
    );
    let med = |k: &str| s[k]["median"].as_f64().unwrap_or(f64::NAN);
    let (reasoning, answer) = (med("ttft_reasoning_ms"), med("ttft_answer_ms"));
    assert!(
        (25.0..60.0).contains(&reasoning),
        "to first reasoning {reasoning} ms: {s}"
    );
    assert!(
        (145.0..190.0).contains(&answer),
        "to first answer {answer} ms: {s}"
    );
    // TTFT is the first token of either kind; the reasoning came first.
    assert!((med("ttft_ms") - reasoning).abs() < 1e-9, "{s}");
    assert_eq!(s["reasoning_chunk_share"].as_f64(), Some(0.6), "{s}");
    assert_eq!(s["reasoning_tokens"]["median"].as_f64(), Some(6.0), "{s}");
    for r in v["requests"].as_array().unwrap() {
        assert_eq!(r["reasoning_chunks"].as_u64(), Some(6), "{r}");
        assert_eq!(r["chunks_s"].as_array().unwrap().len(), 10, "{r}");
        assert!(
            r["first_answer_s"].as_f64() > r["first_reasoning_s"].as_f64(),
            "{r}"
        );
    }
}
