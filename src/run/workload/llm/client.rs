//! One OpenAI-compatible request, timed on the receive path: the send time just before
//! the request is written, each content chunk's arrival time as its bytes arrive, the end
//! when the stream closes. Request bodies are serialised before the load starts, so
//! nothing but I/O and a borrowed JSON parse per chunk happens while timing.
//!
//! Streams are accepted as servers send them (docs/llm-serving.md, "Servers as they are"):
//! a stream that ends cleanly after a chunk with a finish reason is complete with or
//! without `[DONE]`; what a server left out is a note on the request, not a failure.

use super::http::{self, Pool};
use super::metrics::RequestRecord;
use super::sse::SseReader;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use std::borrow::Cow;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Completions,
    Chat,
    /// `/v1/embeddings`: one response, no tokens generated; timed to its end.
    Embeddings,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Completions => "/v1/completions",
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
        }
    }
}

/// Where and how requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `http://127.0.0.1:8080`
    pub base_url: String,
    pub model: String,
    pub endpoint: Endpoint,
    pub stream: bool,
    /// Sent as a bearer token; read from an environment variable, never stored.
    pub api_key: Option<String>,
    /// Extra trusted CA certificates (PEM) for https, besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Merged into every request body (e.g. `{"ignore_eos": true}`).
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    pub timeout: Duration,
    /// A request that receives no byte for this long fails as `stalled` (None: never).
    pub stall: Option<Duration>,
    /// Ask for `usage` in streams (`stream_options.include_usage`); some servers refuse it.
    pub request_usage: bool,
    /// Keep generated text, for a local tokenizer to count after the load.
    pub keep_text: bool,
    /// Keep the answer's text (no reasoning), for a conversation's next turn.
    pub keep_reply: bool,
}

/// A prompt ready to send.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub text: String,
    pub max_tokens: u32,
}

/// Builds the JSON body of one request.
pub fn body(target: &Target, p: &Prompt) -> Vec<u8> {
    body_after(target, p, &[])
}

/// The body of a conversation's turn: `history` is its earlier (user, assistant) pairs,
/// the server's own replies, carried forward before this turn's prompt.
pub fn body_after(target: &Target, p: &Prompt, history: &[(String, String)]) -> Vec<u8> {
    let mut b = serde_json::Map::new();
    b.insert("model".into(), target.model.clone().into());
    match target.endpoint {
        Endpoint::Completions => {
            b.insert("prompt".into(), p.text.clone().into());
        }
        Endpoint::Chat => {
            let mut messages: Vec<serde_json::Value> = Vec::with_capacity(history.len() * 2 + 1);
            for (user, assistant) in history {
                messages.push(serde_json::json!({"role": "user", "content": user}));
                messages.push(serde_json::json!({"role": "assistant", "content": assistant}));
            }
            messages.push(serde_json::json!({"role": "user", "content": p.text}));
            b.insert("messages".into(), messages.into());
        }
        Endpoint::Embeddings => {
            b.insert("input".into(), p.text.clone().into());
        }
    }
    if target.endpoint != Endpoint::Embeddings {
        b.insert("max_tokens".into(), p.max_tokens.into());
        b.insert("stream".into(), target.stream.into());
    }
    if target.stream && target.request_usage && target.endpoint != Endpoint::Embeddings {
        b.insert(
            "stream_options".into(),
            serde_json::json!({"include_usage": true}),
        );
    }
    for (k, v) in &target.extra_body {
        // `{max_tokens}` stands for this request's max_tokens: a whole value becomes the
        // number (`"min_tokens": "{max_tokens}"`), inside a string it is spliced in.
        let v = match v.as_str() {
            Some("{max_tokens}") => p.max_tokens.into(),
            Some(s) if s.contains("{max_tokens}") => {
                s.replace("{max_tokens}", &p.max_tokens.to_string()).into()
            }
            _ => v.clone(),
        };
        b.insert(k.clone(), v);
    }
    serde_json::to_vec(&serde_json::Value::Object(b)).expect("a JSON map serialises")
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize, Clone, Copy)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

/// llama.cpp's own per-request figures, sent beside the OpenAI fields: `cache_n` prompt
/// tokens reused from the slot's cache, `prompt_n` computed.
#[derive(Deserialize, Clone, Copy)]
struct Timings {
    cache_n: Option<u64>,
}

/// OpenAI's (and vLLM's, SGLang's) breakdown of the completion's tokens.
#[derive(Deserialize, Clone, Copy)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    /// vLLM (before 0.11), SGLang, DeepSeek's API.
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    /// vLLM from 0.11, OpenRouter.
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StreamChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    timings: Option<Timings>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    #[serde(default)]
    embedding: Embedding,
}

/// A vector as floats, or as base64 bytes (`encoding_format = "base64"` in `extra_body`,
/// which servers send to save bandwidth): either is an answer, only an empty one is not.
#[derive(Deserialize)]
#[serde(untagged)]
enum Embedding {
    Floats(Vec<f64>),
    Base64(String),
}

impl Default for Embedding {
    fn default() -> Self {
        Embedding::Floats(Vec::new())
    }
}

impl Embedding {
    fn is_empty(&self) -> bool {
        match self {
            Embedding::Floats(v) => v.is_empty(),
            Embedding::Base64(s) => s.is_empty(),
        }
    }
}

#[derive(Deserialize)]
struct FullChoice {
    text: Option<String>,
    message: Option<Message>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct FullResponse {
    #[serde(default)]
    choices: Vec<FullChoice>,
    #[serde(default)]
    timings: Option<Timings>,
    /// Embeddings: one entry per input, each with its vector.
    #[serde(default)]
    data: Vec<EmbeddingData>,
    usage: Option<Usage>,
}

fn nonempty(s: &Option<Cow<'_, str>>) -> bool {
    s.as_deref().is_some_and(|t| !t.is_empty())
}

/// What a choice carried: (reasoning, answer). Either is generated content.
fn carried(c: &Choice<'_>) -> (bool, bool) {
    let d = c.delta.as_ref();
    (
        d.is_some_and(|d| nonempty(&d.reasoning_content) || nonempty(&d.reasoning)),
        nonempty(&c.text) || d.is_some_and(|d| nonempty(&d.content)),
    )
}

fn fail(r: &mut RequestRecord, kind: &str, message: String, at: f64) {
    r.error = Some(kind.into());
    let mut m = message;
    if m.len() > 500 {
        let cut = (0..=500)
            .rev()
            .find(|&i| m.is_char_boundary(i))
            .unwrap_or(0);
        m.truncate(cut);
        m.push('…');
    }
    r.message = Some(m);
    r.end_s = at;
}

/// Fails `r` at the end time it already has.
fn fail_at_end(r: &mut RequestRecord, kind: &str, message: String) {
    let at = r.end_s;
    fail(r, kind, message, at);
}

fn note(r: &mut RequestRecord, n: &str) {
    if !r.notes.iter().any(|x| x == n) {
        r.notes.push(n.to_string());
    }
}

/// Token counts from the server, unless they contradict what arrived: a server that
/// reports 0 completion tokens for a response that carried text has not counted them.
fn take_usage(r: &mut RequestRecord, u: &Usage, text_arrived: bool) {
    if let Some(p) = u.prompt_tokens {
        r.input_tokens = Some(p);
    }
    match u.completion_tokens {
        Some(0) if text_arrived => {
            note(r, "usage_zero");
            r.output_tokens = None;
        }
        Some(n) => r.output_tokens = Some(n),
        None => {}
    }
    r.reasoning_tokens = u.completion_tokens_details.and_then(|d| d.reasoning_tokens);
    if let Some(c) = u.prompt_tokens_details.and_then(|d| d.cached_tokens) {
        r.cached_tokens = Some(c);
    }
    if r.output_tokens.is_some() || r.input_tokens.is_some() {
        r.tokens_from = Some("server".into());
    }
}

/// A hint for a server that refuses a field rigor added to the request body.
pub fn refusal_hint(status: u16, text: &str) -> Option<String> {
    if !(400..500).contains(&status) {
        return None;
    }
    let fields = [
        (
            "ignore_eos",
            "set `ignore_eos = false`, or the server profile (`server = \"…\"`) that names its exact-length field",
        ),
        (
            "min_tokens",
            "set `ignore_eos = false`, or another server profile",
        ),
        (
            "stream_options",
            "set `usage = false` (token counts then come from a `tokenizer`, or are missing)",
        ),
    ];
    fields
        .iter()
        .find(|(f, _)| text.contains(f))
        .map(|(f, fix)| format!("the server refuses the request field `{f}`: {fix}"))
}

/// Sends one request and records what happened; never panics, never returns early
/// without an end time. A request is sent again (once) only when it
/// provably never reached the server: hyper handed it back unsent, or a reused
/// keep-alive connection was closed before any of the response arrived. Its times are
/// those of the send that was answered; the first send is kept in `first_sent_s`.
pub async fn send(
    pool: &Pool,
    path: &::http::HeaderValue,
    target: &Target,
    body: Bytes,
    origin: Instant,
    cancel_at: Option<Instant>,
    mut r: RequestRecord,
) -> RequestRecord {
    let secs = |t: Instant| t.duration_since(origin).as_secs_f64();
    let started = Instant::now();
    let timeout_at = started + target.timeout;
    // The request's own timeout, or the end of a duration-bound load if that comes first.
    let deadline = cancel_at.map_or(timeout_at, |c| c.min(timeout_at));
    let past_deadline = move |r: &mut RequestRecord, now: Instant| {
        if cancel_at.is_some_and(|c| now >= c && c < timeout_at) {
            fail(
                r,
                "cancelled",
                "still in flight when the load's duration (and its grace) ended".into(),
                now.duration_since(origin).as_secs_f64(),
            );
        } else {
            let t = target.timeout.as_secs_f64();
            fail(
                r,
                "timeout",
                format!("no complete response within {t} s"),
                now.duration_since(origin).as_secs_f64(),
            );
        }
    };
    let make = |body: Bytes| {
        let mut b = ::http::Request::post(path.to_str().unwrap_or("/"))
            .header(::http::header::HOST, pool.origin().authority().clone())
            .header(::http::header::CONTENT_TYPE, "application/json");
        if target.stream {
            b = b.header(::http::header::ACCEPT, "text/event-stream");
        }
        if let Some(k) = &target.api_key {
            b = b.header(::http::header::AUTHORIZATION, format!("Bearer {k}"));
        }
        b.body(Full::new(body))
    };
    let work = async {
        let mut attempt = 0;
        let (mut conn, resp) = loop {
            attempt += 1;
            let co = match pool.checkout().await {
                Ok(c) => c,
                Err(e) => return fail(&mut r, "connect", e.to_string(), secs(Instant::now())),
            };
            r.connect_ms = co.connect.map(|d| d.as_secs_f64() * 1e3);
            let mut conn = co.conn;
            let req = match make(body.clone()) {
                Ok(q) => q,
                Err(e) => return fail(&mut r, "send", e.to_string(), secs(Instant::now())),
            };
            let sent = Instant::now();
            if attempt > 1 {
                r.first_sent_s.get_or_insert(r.sent_s);
            }
            r.sent_s = secs(sent);
            match conn.sender.try_send_request(req).await {
                Ok(resp) => break (conn, resp),
                Err(mut e) => {
                    let unsent = e.take_message().is_some();
                    let closed = http::closed_before_answer(e.error());
                    if attempt == 1 && (unsent || (co.reused && closed)) {
                        r.retries += 1;
                        note(
                            &mut r,
                            if unsent {
                                "resent_unsent"
                            } else {
                                "resent_closed_keepalive"
                            },
                        );
                        if !unsent {
                            pool.server_closes();
                        }
                        continue;
                    }
                    let why = if closed {
                        format!(
                            "the server closed the connection without answering: {}",
                            http::chain(e.error())
                        )
                    } else {
                        http::chain(e.error())
                    };
                    return fail(&mut r, "send", why, secs(Instant::now()));
                }
            }
        };
        let status = resp.status();
        r.status = Some(status.as_u16());
        conn.note_response(resp.headers());
        let mut body = resp.into_body();
        // Every read waits at most until the stall limit or the request's deadline.
        let stall = target.stall;
        let next_wait = move || {
            let left = deadline.saturating_duration_since(Instant::now());
            stall.map_or(left, |s| s.min(left))
        };
        let stalled = |r: &mut RequestRecord, last: Instant| {
            let now = Instant::now();
            if now >= deadline {
                past_deadline(r, now);
            } else {
                let s = stall.unwrap_or_default().as_secs_f64();
                fail(
                    r,
                    "stalled",
                    format!(
                        "no byte for {s} s (stall_timeout), {:.1} s after the send; the server stopped sending",
                        last.duration_since(started).as_secs_f64()
                    ),
                    secs(now),
                );
            }
        };
        if !status.is_success() {
            let mut text = Vec::new();
            while let Ok(Some(Ok(f))) = tokio::time::timeout(next_wait(), body.frame()).await {
                if let Ok(d) = f.into_data() {
                    text.extend_from_slice(&d);
                }
                if text.len() > 4096 {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&text).trim().to_string();
            let hint = refusal_hint(status.as_u16(), &text)
                .map(|h| format!(" — {h}"))
                .unwrap_or_default();
            return fail(
                &mut r,
                "http",
                format!("HTTP {status}: {text}{hint}"),
                secs(Instant::now()),
            );
        }
        if !target.stream {
            let mut bytes = Vec::new();
            let mut last = Instant::now();
            loop {
                match tokio::time::timeout(next_wait(), body.frame()).await {
                    Ok(Some(Ok(f))) => {
                        last = Instant::now();
                        if let Ok(d) = f.into_data() {
                            bytes.extend_from_slice(&d);
                        }
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        return fail(&mut r, "body", http::chain(&e), secs(Instant::now()));
                    }
                    Err(_) => return stalled(&mut r, last),
                }
            }
            let end = Instant::now();
            r.end_s = secs(end);
            pool.checkin(conn);
            match serde_json::from_slice::<FullResponse>(&bytes) {
                Ok(full) if target.endpoint == Endpoint::Embeddings => {
                    if let Some(p) = full.usage.as_ref().and_then(|u| u.prompt_tokens) {
                        r.input_tokens = Some(p);
                        r.tokens_from = Some("server".into());
                    }
                    if full.data.is_empty() || full.data.iter().any(|d| d.embedding.is_empty()) {
                        fail_at_end(
                            &mut r,
                            "empty",
                            "the response has no embedding vector".into(),
                        );
                    }
                }
                Ok(full) => {
                    let first = full.choices.first();
                    let text_len = first.map_or(0, |c| {
                        c.text.as_deref().map_or(0, str::len)
                            + c.message.as_ref().map_or(0, |m| {
                                [&m.content, &m.reasoning_content, &m.reasoning]
                                    .iter()
                                    .map(|s| s.as_deref().map_or(0, str::len))
                                    .sum()
                            })
                    });
                    r.finish_reason = first.and_then(|c| c.finish_reason.clone());
                    if let Some(n) = full.timings.and_then(|t| t.cache_n) {
                        r.cached_tokens = Some(n);
                    }
                    match full.usage {
                        Some(u) => take_usage(&mut r, &u, text_len > 0),
                        None => note(&mut r, "no_usage"),
                    }
                    if target.keep_reply
                        && let Some(c) = first
                    {
                        r.reply.push_str(c.text.as_deref().unwrap_or(""));
                        if let Some(m) = &c.message {
                            r.reply.push_str(m.content.as_deref().unwrap_or(""));
                        }
                    }
                    if target.keep_text
                        && let Some(c) = first
                    {
                        r.generated.push_str(c.text.as_deref().unwrap_or(""));
                        if let Some(m) = &c.message {
                            for part in [&m.content, &m.reasoning_content, &m.reasoning] {
                                r.generated.push_str(part.as_deref().unwrap_or(""));
                            }
                        }
                    }
                    if text_len == 0 && r.output_tokens.unwrap_or(0) == 0 {
                        fail_at_end(&mut r, "empty", "the response has no generated text".into());
                    }
                }
                Err(e) => fail_at_end(&mut r, "body", format!("not an OpenAI response: {e}")),
            }
            return;
        }
        let mut sse = SseReader::new();
        let mut done = false;
        let mut finished = false;
        // The last usage sent: some servers send one in every chunk, counting up.
        let mut usage: Option<Usage> = None;
        let mut stream_error: Option<String> = None;
        let mut last = Instant::now();
        let mut on_event = |ev: &[u8], at: f64, r: &mut RequestRecord| {
            r.first_event_s.get_or_insert(at);
            if ev == b"[DONE]" {
                done = true;
                return;
            }
            match serde_json::from_slice::<StreamChunk<'_>>(ev) {
                Ok(c) => {
                    if let Some(e) = c.error {
                        stream_error.get_or_insert(e.to_string());
                    }
                    let (reasoning, answer) = c
                        .choices
                        .iter()
                        .map(carried)
                        .fold((false, false), |a, b| (a.0 || b.0, a.1 || b.1));
                    if reasoning || answer {
                        r.first_token_s.get_or_insert(at);
                        r.chunks_s.push(at);
                        if reasoning {
                            r.first_reasoning_s.get_or_insert(at);
                            r.reasoning_chunks += 1;
                        }
                        if answer {
                            r.first_answer_s.get_or_insert(at);
                        }
                        if target.keep_reply {
                            for ch in &c.choices {
                                r.reply.push_str(ch.text.as_deref().unwrap_or(""));
                                if let Some(d) = &ch.delta {
                                    r.reply.push_str(d.content.as_deref().unwrap_or(""));
                                }
                            }
                        }
                        if target.keep_text {
                            for ch in &c.choices {
                                r.generated.push_str(ch.text.as_deref().unwrap_or(""));
                                if let Some(d) = &ch.delta {
                                    for part in [&d.content, &d.reasoning_content, &d.reasoning] {
                                        r.generated.push_str(part.as_deref().unwrap_or(""));
                                    }
                                }
                            }
                        }
                    }
                    if let Some(f) = c.choices.iter().find_map(|ch| ch.finish_reason.as_deref()) {
                        finished = true;
                        r.finish_reason = Some(f.to_string());
                    }
                    if c.usage.is_some() {
                        usage = c.usage;
                    }
                    if let Some(n) = c.timings.and_then(|t| t.cache_n) {
                        r.cached_tokens = Some(n);
                    }
                }
                Err(e) => {
                    stream_error.get_or_insert(format!(
                        "unreadable event: {e}: {}",
                        String::from_utf8_lossy(&ev[..ev.len().min(200)])
                    ));
                }
            }
        };
        loop {
            match tokio::time::timeout(next_wait(), body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let now = Instant::now();
                    last = now;
                    let at = secs(now);
                    if let Ok(bytes) = frame.into_data() {
                        sse.feed(&bytes, |ev| on_event(ev, at, &mut r));
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return fail(
                        &mut r,
                        "stream",
                        format!("the stream broke: {}", http::chain(&e)),
                        secs(Instant::now()),
                    );
                }
                Err(_) => return stalled(&mut r, last),
            }
        }
        let end = Instant::now();
        r.end_s = secs(end);
        // An event some servers leave without its blank line.
        sse.finish(|ev| on_event(ev, r.end_s, &mut r));
        pool.checkin(conn);
        if let Some(e) = stream_error {
            return fail_at_end(&mut r, "stream", e);
        }
        if !done {
            if !finished {
                return fail_at_end(
                    &mut r,
                    "stream",
                    "the stream ended without [DONE] and without a finish reason: it was cut off"
                        .into(),
                );
            }
            note(&mut r, "no_done");
        }
        match &usage {
            Some(u) => {
                let text = !r.chunks_s.is_empty();
                take_usage(&mut r, u, text);
            }
            None if target.request_usage => note(&mut r, "no_usage"),
            None => {}
        }
        if r.chunks_s.is_empty() {
            fail_at_end(
                &mut r,
                "empty",
                "the stream carried no generated text".into(),
            );
        }
    };
    if tokio::time::timeout_at(deadline.into(), work)
        .await
        .is_err()
    {
        past_deadline(&mut r, Instant::now());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedding_as_floats_or_base64_is_an_answer_and_an_empty_one_is_not() {
        let read = |j: &str| serde_json::from_str::<FullResponse>(j).unwrap().data;
        let floats =
            read(r#"{"data": [{"embedding": [0.5, -1.0]}], "usage": {"prompt_tokens": 3}}"#);
        assert!(!floats[0].embedding.is_empty());
        let b64 = read(r#"{"data": [{"embedding": "AAAAPwAAgL8="}]}"#);
        assert!(!b64[0].embedding.is_empty());
        for empty in [
            r#"{"data": [{"embedding": []}]}"#,
            r#"{"data": [{"embedding": ""}]}"#,
            r#"{"data": [{}]}"#,
        ] {
            assert!(read(empty)[0].embedding.is_empty(), "{empty}");
        }
    }

    #[test]
    fn a_refused_field_names_the_setting_that_removes_it() {
        let h = refusal_hint(
            422,
            "{\"detail\":\"Unexpected fields in the request: {'ignore_eos'}\"}",
        )
        .unwrap();
        assert!(
            h.contains("`ignore_eos`") && h.contains("ignore_eos = false"),
            "{h}"
        );
        assert!(refusal_hint(500, "ignore_eos").is_none());
        assert!(refusal_hint(400, "bad prompt").is_none());
    }

    #[test]
    fn min_tokens_takes_each_requests_max_tokens() {
        let mut t = Target {
            base_url: String::new(),
            model: "m".into(),
            endpoint: Endpoint::Completions,
            stream: true,
            api_key: None,
            ca_pem: None,
            extra_body: serde_json::Map::new(),
            timeout: Duration::from_secs(1),
            stall: None,
            request_usage: true,
            keep_text: false,
            keep_reply: false,
        };
        t.extra_body
            .insert("min_tokens".into(), "{max_tokens}".into());
        t.extra_body.insert(
            "generation_config".into(),
            "{\"min_new_tokens\": {max_tokens}}".into(),
        );
        let b: serde_json::Value = serde_json::from_slice(&body(
            &t,
            &Prompt {
                text: "hi".into(),
                max_tokens: 7,
            },
        ))
        .unwrap();
        assert_eq!(b["min_tokens"], 7);
        assert_eq!(b["generation_config"], "{\"min_new_tokens\": 7}");
        assert_eq!(b["max_tokens"], 7);
        assert_eq!(b["stream_options"]["include_usage"], true);
    }
}
