//! One OpenAI-compatible request, timed on the receive path: the send time just before the
//! request goes out, each content chunk's arrival time as its bytes arrive, the end when
//! the stream closes. Request bodies are serialised before the load starts, so nothing
//! but I/O and a borrowed JSON parse per chunk happens while timing.

use super::metrics::RequestRecord;
use super::sse::SseReader;
use serde::Deserialize;
use std::borrow::Cow;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Completions,
    Chat,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Completions => "/v1/completions",
            Endpoint::Chat => "/v1/chat/completions",
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
    /// Ask for `usage` in streams (`stream_options.include_usage`); some servers refuse it.
    pub request_usage: bool,
    /// Keep generated text, for a local tokenizer to count after the load.
    pub keep_text: bool,
}

/// A prompt ready to send.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub text: String,
    pub max_tokens: u32,
}

/// Builds the JSON body of one request.
pub fn body(target: &Target, p: &Prompt) -> Vec<u8> {
    let mut b = serde_json::Map::new();
    b.insert("model".into(), target.model.clone().into());
    match target.endpoint {
        Endpoint::Completions => {
            b.insert("prompt".into(), p.text.clone().into());
        }
        Endpoint::Chat => {
            b.insert(
                "messages".into(),
                serde_json::json!([{"role": "user", "content": p.text}]),
            );
        }
    }
    b.insert("max_tokens".into(), p.max_tokens.into());
    b.insert("stream".into(), target.stream.into());
    if target.stream && target.request_usage {
        b.insert(
            "stream_options".into(),
            serde_json::json!({"include_usage": true}),
        );
    }
    for (k, v) in &target.extra_body {
        b.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&serde_json::Value::Object(b)).expect("a JSON map serialises")
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize)]
struct StreamChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct FullChoice {
    text: Option<String>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct FullResponse {
    #[serde(default)]
    choices: Vec<FullChoice>,
    usage: Option<Usage>,
}

fn has_content(c: &Choice<'_>) -> bool {
    c.text.as_deref().is_some_and(|t| !t.is_empty())
        || c.delta.as_ref().is_some_and(|d| {
            d.content.as_deref().is_some_and(|t| !t.is_empty())
                || d.reasoning_content
                    .as_deref()
                    .is_some_and(|t| !t.is_empty())
        })
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

fn stale_connection(e: &reqwest::Error) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message())
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// An error with its causes: reqwest's own text omits the one that says what happened.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Fails `r` at the end time it already has.
fn fail_at_end(r: &mut RequestRecord, kind: &str, message: String) {
    let at = r.end_s;
    fail(r, kind, message, at);
}

/// Sends one request and records what happened; never panics, never returns early
/// without an end time.
pub async fn send(
    client: &reqwest::Client,
    url: &reqwest::Url,
    target: &Target,
    body: bytes::Bytes,
    origin: Instant,
    mut r: RequestRecord,
) -> RequestRecord {
    let secs = |t: Instant| t.duration_since(origin).as_secs_f64();
    // The URL is parsed once per load and the body shared, not copied, per send.
    let make = |body: bytes::Bytes| {
        let mut req = client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = &target.api_key {
            req = req.bearer_auth(k);
        }
        req
    };
    let retry_body = body.clone();
    let req = make(body);
    let sent = Instant::now();
    r.sent_s = secs(sent);
    let deadline = sent + target.timeout;
    let work = async {
        let mut first = req.send().await;
        // A pooled connection the server closed after its last response fails before the
        // request is read; the request never reached the server, so it goes again, once, on
        // a new connection.
        if first.as_ref().err().is_some_and(stale_connection) {
            r.retries += 1;
            first = make(retry_body).send().await;
        }
        let resp = match first {
            Ok(x) => x,
            Err(e) => {
                let kind = if e.is_connect() { "connect" } else { "send" };
                fail(&mut r, kind, chain(&e), secs(Instant::now()));
                return;
            }
        };
        r.status = Some(resp.status().as_u16());
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            fail(
                &mut r,
                "http",
                format!("HTTP {status}: {text}"),
                secs(Instant::now()),
            );
            return;
        }
        if !target.stream {
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return fail(&mut r, "body", chain(&e), secs(Instant::now())),
            };
            let end = Instant::now();
            r.end_s = secs(end);
            match serde_json::from_slice::<FullResponse>(&bytes) {
                Ok(full) => {
                    let text_len = full.choices.first().map_or(0, |c| {
                        c.text.as_deref().map(str::len).unwrap_or(0)
                            + c.message
                                .as_ref()
                                .and_then(|m| m.content.as_deref())
                                .map_or(0, str::len)
                    });
                    if let Some(u) = full.usage {
                        r.input_tokens = u.prompt_tokens;
                        r.output_tokens = u.completion_tokens;
                        r.tokens_from = Some("server".into());
                    }
                    if target.keep_text
                        && let Some(c) = full.choices.first()
                    {
                        r.generated.push_str(c.text.as_deref().unwrap_or(""));
                        if let Some(m) = &c.message {
                            r.generated.push_str(m.content.as_deref().unwrap_or(""));
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
        let mut resp = resp;
        let mut sse = SseReader::new();
        let mut done = false;
        let mut stream_error: Option<String> = None;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    let at = secs(Instant::now());
                    sse.feed(&bytes, |ev| {
                        if ev == b"[DONE]" {
                            done = true;
                            return;
                        }
                        match serde_json::from_slice::<StreamChunk<'_>>(ev) {
                            Ok(c) => {
                                if let Some(e) = c.error {
                                    stream_error.get_or_insert(e.to_string());
                                }
                                if c.choices.iter().any(has_content) {
                                    r.first_token_s.get_or_insert(at);
                                    r.chunks_s.push(at);
                                    if target.keep_text {
                                        for ch in &c.choices {
                                            r.generated.push_str(ch.text.as_deref().unwrap_or(""));
                                            if let Some(d) = &ch.delta {
                                                r.generated
                                                    .push_str(d.content.as_deref().unwrap_or(""));
                                            }
                                        }
                                    }
                                }
                                if let Some(u) = c.usage {
                                    r.input_tokens = u.prompt_tokens.or(r.input_tokens);
                                    r.output_tokens = u.completion_tokens.or(r.output_tokens);
                                    r.tokens_from = Some("server".into());
                                }
                            }
                            Err(e) => {
                                stream_error.get_or_insert(format!(
                                    "unreadable event: {e}: {}",
                                    String::from_utf8_lossy(&ev[..ev.len().min(200)])
                                ));
                            }
                        }
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    fail(
                        &mut r,
                        "stream",
                        format!("the stream broke: {}", chain(&e)),
                        secs(Instant::now()),
                    );
                    return;
                }
            }
        }
        r.end_s = secs(Instant::now());
        if let Some(e) = stream_error {
            return fail_at_end(&mut r, "stream", e);
        }
        if !done {
            return fail_at_end(&mut r, "stream", "the stream ended without [DONE]".into());
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
        let at = secs(Instant::now());
        let t = target.timeout.as_secs_f64();
        fail(
            &mut r,
            "timeout",
            format!("no complete response within {t} s"),
            at,
        );
    }
    r
}
