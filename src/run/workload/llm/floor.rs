//! The client's floor: a trivial OpenAI-style endpoint rigor serves itself on loopback,
//! answering every request at once, so that the same load against it measures rigor and
//! the machine, not a server. A calibration printed beside the results (`serve-bench
//! --floor`, and once per `rigor run` session, kept with its environment), never a stand-in
//! for the server under test.
//!
//! Hand-written on std threads (one per connection, keep-alive) rather than with hyper's
//! server: it is small, has no timing of its own to trust, and keeps hyper's server
//! features out of the build.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// Most requests, and longest duration, of the floor measured once per run: a calibration
/// needs a few hundred requests, not the experiment's whole load.
const RUN_FLOOR_REQUESTS: usize = 200;
const RUN_FLOOR_DURATION: std::time::Duration = std::time::Duration::from_secs(5);

/// The load of `o` against a trivial endpoint: what rigor itself reaches on this machine.
/// `cap`: at most 200 requests or 5 s (the floor measured once per `rigor run`).
pub fn measure(o: &super::Options, cap: bool) -> Result<super::metrics::Summary, super::LlmError> {
    let trivial = start(o.output_len)
        .map_err(|e| super::LlmError(format!("cannot serve the trivial endpoint: {e}")))?;
    let mut f = o.clone();
    f.url = Some(trivial.url);
    f.server_command = None;
    f.server = Some(super::profile::Server::Generic);
    f.records = false;
    if cap {
        let p = &mut f.plan;
        p.warmup = p.warmup.min(10);
        // Both bounds, whichever comes first: a slow rate would make 200 requests last
        // minutes. A trace is replayed from its start, for 5 s at most.
        p.requests = if f.dataset.starts_with("trace:") {
            None
        } else {
            Some(
                p.requests
                    .map_or(RUN_FLOOR_REQUESTS, |n| n.min(RUN_FLOOR_REQUESTS)),
            )
        };
        p.duration = Some(
            p.duration
                .map_or(RUN_FLOOR_DURATION, |d| d.min(RUN_FLOOR_DURATION)),
        );
        p.grace = p.grace.min(RUN_FLOOR_DURATION);
    }
    Ok(super::run(&f, None)?.summary)
}

/// The client's floor, once per session, for each `llm-serve` workload: its first cell's
/// load (at most 200 requests or 5 s) against a trivial endpoint rigor serves itself on
/// loopback. What rigor and this machine reach with no server to wait for: a calibration
/// kept with the session's environment, never a stand-in for the server under test.
pub fn of_run(
    exp: &crate::define::config::Experiment,
    plan: &crate::plan::Plan,
    progress: &mut dyn crate::run::progress::Progress,
) -> Option<serde_json::Value> {
    use crate::define::fields::Probe;
    let mut out = serde_json::Map::new();
    for w in exp
        .workloads
        .iter()
        .filter(|w| w.kind.probe() == Some(Probe::LlmServe))
    {
        let Some(cell) = plan.cells.iter().find(|c| c.workload == w.name) else {
            continue;
        };
        let measured = crate::plan::invocation::build(exp, cell, 0)
            .map_err(|e| e.to_string())
            .and_then(|inv| {
                // `rigor probe llm-serve --field value…`, wherever the probe's words begin.
                let at = inv
                    .argv
                    .iter()
                    .position(|a| a == "llm-serve")
                    .ok_or("the workload's command names no llm-serve probe")?;
                let mut fields =
                    crate::define::fields::parse_args(Probe::LlmServe, &inv.argv[at + 1..])
                        .map_err(|e| e.to_string())?;
                // The trial reads its files from its working directory: so does the floor.
                // (The trivial endpoint needs no key, whose variable may be the trial's own.)
                for (name, prefixes) in [
                    ("dataset", &["sharegpt:", "trace:", ""][..]),
                    ("tokenizer", &[""][..]),
                ] {
                    if let Some(v) = fields.get(name).cloned()
                        && !v.is_empty()
                        && !(name == "dataset" && v == "synthetic")
                        && let Some(p) = prefixes.iter().find(|p| v.starts_with(**p))
                        && std::path::Path::new(&v[p.len()..]).is_relative()
                    {
                        let abs = inv.workdir.join(&v[p.len()..]);
                        fields.insert(name, format!("{p}{}", abs.display()));
                    }
                }
                fields.insert("api_key_env", String::new());
                fields.insert("ca_file", String::new());
                let opts = super::Options::from_fields(&fields).map_err(|e| e.0)?;
                measure(&opts, true).map_err(|e| e.0)
            });
        let value = match measured {
            Ok(s) => {
                progress.note(&format!(
                    "client floor for `{}` (its first cell's load against a trivial loopback endpoint): TTFT median {}, {:.1} req/s",
                    w.name,
                    s.ttft_ms
                        .as_ref()
                        .map_or("–".into(), |d| format!("{:.2} ms", d.median)),
                    s.req_s
                ));
                serde_json::json!({
                    "cell": cell.key,
                    "requests": s.requests,
                    "ok": s.ok,
                    "failed": s.failed,
                    "duration_s": s.duration_s,
                    "req_s": s.req_s,
                    "ttft_ms": s.ttft_ms,
                    "e2e_ms": s.e2e_ms,
                    "itl_ms": s.itl_ms,
                })
            }
            Err(why) => {
                progress.note(&format!("no client floor for `{}`: {why}", w.name));
                serde_json::json!({ "unavailable": why })
            }
        };
        out.insert(w.name.clone(), value);
    }
    (!out.is_empty()).then_some(serde_json::Value::Object(out))
}

/// A running trivial endpoint; it lives as long as the process (its threads are detached).
pub struct Trivial {
    pub url: String,
}

/// Starts the endpoint on 127.0.0.1 (a free port), streaming `chunks` one-word chunks.
pub fn start(chunks: u32) -> std::io::Result<Trivial> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", l.local_addr()?);
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(conn, chunks);
            });
        }
    });
    Ok(Trivial { url })
}

fn serve(s: TcpStream, chunks: u32) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut out = s.try_clone()?;
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let usage = serde_json::json!({"prompt_tokens": 1, "completion_tokens": chunks,
                                        "total_tokens": chunks + 1});
        if path.ends_with("/embeddings") {
            json(
                &mut out,
                &serde_json::json!({"data": [{"embedding": [0.0]}], "usage": usage}),
            )?;
        } else if req["stream"] == serde_json::Value::Bool(true) {
            out.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            )?;
            let mut event = |v: serde_json::Value| -> std::io::Result<()> {
                let e = format!("data: {v}\n\n");
                out.write_all(format!("{:x}\r\n{e}\r\n", e.len()).as_bytes())
            };
            for i in 0..chunks {
                let last = i + 1 == chunks;
                event(serde_json::json!({"choices": [{"index": 0, "text": "w ",
                    "delta": {"content": "w "}, "finish_reason": if last { "length" } else { "" }}]}))?;
            }
            event(serde_json::json!({"choices": [], "usage": usage}))?;
            let done = "data: [DONE]\n\n";
            out.write_all(format!("{:x}\r\n{done}\r\n0\r\n\r\n", done.len()).as_bytes())?;
        } else {
            let text = "w ".repeat(chunks as usize);
            json(
                &mut out,
                &serde_json::json!({"choices": [{"index": 0, "text": text,
                    "message": {"role": "assistant", "content": text}, "finish_reason": "length"}],
                    "usage": usage}),
            )?;
        }
        out.flush()?;
    }
}

fn json(out: &mut TcpStream, v: &serde_json::Value) -> std::io::Result<()> {
    let b = v.to_string();
    out.write_all(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{b}",
            b.len()
        )
        .as_bytes(),
    )
}
