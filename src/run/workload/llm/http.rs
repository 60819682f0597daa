//! The load's HTTP/1.1 client: connections rigor owns, so that what a server does with
//! keep-alive never turns into a failure it did not cause.
//!
//! Servers differ: llama.cpp's server announces `Keep-Alive: timeout=5, max=100` and then
//! closes the connection right after every streamed response; others close after N
//! requests (with `Connection: close`), or after some idle time. A pooled client that
//! reuses a connection the server has just closed sends its request into a dead socket,
//! and counts the server's habit as the server's failure. So this pool:
//!
//! - learns, before it reuses anything, whether the server keeps connections: a
//!   connection is not reused within [`GRACE`] of its response's end until one has been
//!   seen to stay open that long (then the server keeps them) or to close (then every
//!   request gets a connection of its own for the rest of the load);
//! - looks at an idle connection's socket before reusing it (`recv` with `MSG_PEEK`): a
//!   closed or talking socket is dropped, not used;
//! - honours `Connection: close` and the server's `Keep-Alive: timeout, max`, and never
//!   reuses a connection idle for longer than the server said it would keep it (or
//!   [`IDLE_MAX`] when it said nothing);
//! - re-sends a request only when hyper hands it back unsent, or when a reused connection
//!   was closed by the server before a single byte of the response arrived.
//!
//! Hand-written over hyper's connection API (not a pooled client such as reqwest) because
//! no pooled client exposes the socket a request went out on, which is what tells a
//! closed connection apart before it is used.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a connection stays unused after its response before it may be reused, while
/// the pool does not yet know whether the server keeps connections. A server that closes
/// after each response does so microseconds after its last byte; 5 ms covers a busy
/// server's descheduling too.
pub const GRACE: Duration = Duration::from_millis(5);
/// The longest idle time after which a connection is reused when the server announced no
/// keep-alive timeout (the common defaults are 5 s or more: Uvicorn, cpp-httplib, Go).
pub const IDLE_MAX: Duration = Duration::from_secs(4);
/// Reuse stops this long before an announced keep-alive timeout: the server's clock and
/// ours race at the edge.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{url}` is not a URL: {why}")]
    Url { url: String, why: String },
    #[error("`{url}`: unsupported scheme `{scheme}`; use http:// or https://")]
    Scheme { url: String, scheme: String },
    #[error("ca_file: {0}")]
    Ca(String),
    #[error("no trusted certificate for https: the system has none ({0}); give `ca_file`")]
    NoRoots(String),
    #[error("{0}")]
    Connect(String),
    #[error("a client task of the load failed: {0}")]
    Task(String),
}

/// Where requests go: scheme, host, port and path prefix, parsed once per load.
#[derive(Clone)]
pub struct Origin {
    host: String,
    port: u16,
    /// The `Host` header.
    authority: http::HeaderValue,
    /// Path prefix of the base URL, without a trailing slash (usually empty).
    base_path: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// For messages.
    pub url: String,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// rustls' process-wide provider; installing it twice is refused, harmlessly.
fn crypto() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Origin {
    /// `http://host:port[/prefix]` or `https://…`; for https, the system's roots plus the
    /// PEM certificates in `ca_pem` are trusted.
    pub fn parse(base_url: &str, ca_pem: Option<&[u8]>) -> Result<Origin, HttpError> {
        let bad = |why: String| HttpError::Url {
            url: base_url.to_string(),
            why,
        };
        let uri: http::Uri = base_url.trim().parse().map_err(|e| bad(format!("{e}")))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| bad("no scheme; write e.g. http://127.0.0.1:8000".into()))?;
        let https = match scheme {
            "http" => false,
            "https" => true,
            other => {
                return Err(HttpError::Scheme {
                    url: base_url.to_string(),
                    scheme: other.to_string(),
                });
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host; write e.g. http://127.0.0.1:8000".into()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
            if let Some(pem) = ca_pem {
                use rustls::pki_types::pem::PemObject;
                let mut n = 0;
                for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                    let c = c.map_err(|e| HttpError::Ca(format!("not PEM certificates: {e}")))?;
                    roots
                        .add(c)
                        .map_err(|e| HttpError::Ca(format!("a certificate is unusable: {e}")))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(HttpError::Ca("holds no PEM certificate".into()));
                }
            }
            if roots.is_empty() {
                let why = native
                    .errors
                    .first()
                    .map_or("no certificate found".to_string(), |e| e.to_string());
                return Err(HttpError::NoRoots(why));
            }
            let mut config = rustls::ClientConfig::builder_with_provider(crypto())
                .with_safe_default_protocol_versions()
                .map_err(|e| HttpError::Connect(format!("TLS: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| bad(format!("`{host}` is not a TLS server name: {e}")))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Origin {
            authority: http::HeaderValue::from_str(authority.as_str())
                .map_err(|e| bad(e.to_string()))?,
            host,
            port,
            base_path: uri.path().trim_end_matches('/').to_string(),
            tls,
            url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// The path of `endpoint` (e.g. `/v1/completions`) under the base URL's prefix.
    pub fn path(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.base_path)
    }

    pub fn authority(&self) -> &http::HeaderValue {
        &self.authority
    }
}

/// What a connection's socket says when peeked at without blocking.
#[derive(Debug, PartialEq, Eq)]
enum Peek {
    /// Nothing to read: open and idle.
    Open,
    /// End of file: the server closed it.
    Closed,
    /// Bytes nobody asked for (a late error page, a TLS alert): not safe to reuse.
    Data,
}

fn peek(fd: &OwnedFd) -> Peek {
    let mut b = [0u8; 1];
    // SAFETY: a one-byte buffer we own; the descriptor is a dup we own.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peek::Closed,
        n if n > 0 => Peek::Data,
        _ => match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => Peek::Open,
            _ => Peek::Closed,
        },
    }
}

/// One connection: hyper's sender, and a duplicate of its socket to peek at.
pub struct Conn {
    pub sender: SendRequest<Full<Bytes>>,
    socket: OwnedFd,
    /// When its last response ended.
    idle_since: Instant,
    responses: u32,
    /// The server said it closes after this response.
    closing: bool,
    keep_alive_timeout: Option<Duration>,
    keep_alive_max: Option<u32>,
}

impl Conn {
    /// Reads what the server said about the connection in a response's headers.
    pub fn note_response(&mut self, headers: &http::HeaderMap) {
        let k = KeepAlive::of(headers);
        self.closing |= k.close;
        self.keep_alive_timeout = k.timeout.or(self.keep_alive_timeout);
        self.keep_alive_max = k.max.or(self.keep_alive_max);
    }
}

/// What a response says about its connection's future.
#[derive(Debug, Default, PartialEq)]
struct KeepAlive {
    /// `Connection: close`.
    close: bool,
    timeout: Option<Duration>,
    max: Option<u32>,
}

impl KeepAlive {
    fn of(headers: &http::HeaderMap) -> KeepAlive {
        let mut k = KeepAlive {
            close: headers.get_all("connection").iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
            }),
            ..Default::default()
        };
        // `Keep-Alive: timeout=5, max=100` (RFC 2068 §19.7.1; still sent by many servers).
        if let Some(v) = headers.get("keep-alive").and_then(|v| v.to_str().ok()) {
            for part in v.split(',') {
                let (key, val) = part.split_once('=').unwrap_or((part, ""));
                match key.trim().to_ascii_lowercase().as_str() {
                    "timeout" => {
                        k.timeout = val.trim().parse::<u64>().ok().map(Duration::from_secs)
                    }
                    "max" => k.max = val.trim().parse().ok(),
                    _ => {}
                }
            }
        }
        k
    }
}

/// What the pool has learned about the server's keep-alive.
const UNKNOWN: u8 = 0;
const KEEPS: u8 = 1;
const CLOSES: u8 = 2;

/// How connections were used over a load, for its summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnStats {
    pub opened: u64,
    pub reused: u64,
    /// Idle connections found closed by the server (or past its timeout) and not used.
    pub found_closed: u64,
    /// What the server was seen to do with idle connections, in words: kept open, closed
    /// after each response without saying so, or not known (none was reused).
    pub keep_alive: String,
}

/// The connections of one load, shared by its clients.
pub struct Pool {
    origin: Origin,
    idle: Mutex<Vec<Conn>>,
    learned: AtomicU8,
    opened: AtomicU64,
    reused: AtomicU64,
    found_closed: AtomicU64,
}

/// A connection from the pool, and how it was got.
pub struct Checkout {
    pub conn: Conn,
    pub reused: bool,
    /// Time to open it (TCP, and TLS for https), when it is new.
    pub connect: Option<Duration>,
}

impl Pool {
    pub fn new(origin: Origin) -> Pool {
        Pool {
            origin,
            idle: Mutex::new(Vec::new()),
            learned: AtomicU8::new(UNKNOWN),
            opened: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            found_closed: AtomicU64::new(0),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn stats(&self) -> ConnStats {
        ConnStats {
            opened: self.opened.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            found_closed: self.found_closed.load(Ordering::Relaxed),
            keep_alive: match self.learned.load(Ordering::Relaxed) {
                KEEPS => "kept open by the server",
                CLOSES => {
                    "closed by the server after each response without saying so: each request opened its own"
                }
                _ => "not known (no connection was reused)",
            }
            .into(),
        }
    }

    /// The server closed a connection it had not said it would close: stop reusing.
    pub fn server_closes(&self) {
        self.learned.store(CLOSES, Ordering::Relaxed);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// An idle connection fit to carry the next request, if there is one.
    fn take_idle(&self) -> Option<Conn> {
        if self.learned.load(Ordering::Relaxed) == CLOSES {
            return None;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let c = &idle[i];
            let age = now.saturating_duration_since(c.idle_since);
            let limit = c
                .keep_alive_timeout
                .map_or(IDLE_MAX, |t| t.saturating_sub(TIMEOUT_MARGIN));
            let learned = self.learned.load(Ordering::Relaxed);
            if c.sender.is_closed() || age >= limit {
                let c = idle.swap_remove(i);
                self.found_closed.fetch_add(1, Ordering::Relaxed);
                // hyper saw the close first: the same evidence as a peek at end of file.
                if learned == UNKNOWN && age < limit && !c.closing {
                    self.learned.store(CLOSES, Ordering::Relaxed);
                    idle.clear();
                    return None;
                }
                continue;
            }
            if learned == UNKNOWN && age < GRACE {
                // Too fresh to tell whether the server is about to close it.
                continue;
            }
            match peek(&c.socket) {
                Peek::Open => {
                    if learned == UNKNOWN {
                        self.learned.store(KEEPS, Ordering::Relaxed);
                    }
                    let c = idle.swap_remove(i);
                    self.reused.fetch_add(1, Ordering::Relaxed);
                    return Some(c);
                }
                Peek::Closed => {
                    let c = idle.swap_remove(i);
                    self.found_closed.fetch_add(1, Ordering::Relaxed);
                    // Within its announced lifetime and without `Connection: close`: the
                    // server closes after responses, whatever it announces.
                    if learned != KEEPS && !c.closing {
                        self.learned.store(CLOSES, Ordering::Relaxed);
                        idle.clear();
                        return None;
                    }
                }
                Peek::Data => {
                    idle.swap_remove(i);
                    self.found_closed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        None
    }

    /// A connection for the next request: a verified idle one, or a new one.
    pub async fn checkout(&self) -> Result<Checkout, HttpError> {
        if let Some(conn) = self.take_idle() {
            return Ok(Checkout {
                conn,
                reused: true,
                connect: None,
            });
        }
        let start = Instant::now();
        let conn = self.connect().await?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Checkout {
            conn,
            reused: false,
            connect: Some(start.elapsed()),
        })
    }

    /// Returns a connection whose response was read to its end.
    pub fn checkin(&self, mut conn: Conn) {
        conn.responses += 1;
        conn.idle_since = Instant::now();
        let spent = conn.keep_alive_max.is_some_and(|m| conn.responses >= m);
        if conn.closing
            || spent
            || conn.sender.is_closed()
            || self.learned.load(Ordering::Relaxed) == CLOSES
        {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    async fn connect(&self) -> Result<Conn, HttpError> {
        let o = &self.origin;
        let fail = |what: &str, e: &dyn std::error::Error| {
            HttpError::Connect(format!("{what} {}:{}: {}", o.host, o.port, chain(e)))
        };
        let tcp = tokio::net::TcpStream::connect((o.host.as_str(), o.port))
            .await
            .map_err(|e| fail("cannot connect to", &e))?;
        let _ = tcp.set_nodelay(true);
        // SAFETY: dup of a descriptor we hold open; the new one is owned by `socket`.
        let dup = unsafe { libc::dup(tcp.as_raw_fd()) };
        if dup < 0 {
            return Err(fail(
                "cannot duplicate the socket of",
                &std::io::Error::last_os_error(),
            ));
        }
        let socket = unsafe { OwnedFd::from_raw_fd(dup) };
        let builder = hyper::client::conn::http1::Builder::new();
        let sender = match &o.tls {
            None => {
                let (sender, conn) = builder
                    .handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| fail("HTTP handshake with", &e))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| fail("TLS handshake with", &e))?;
                let (sender, conn) = builder
                    .handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| fail("HTTP handshake with", &e))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        Ok(Conn {
            sender,
            socket,
            idle_since: Instant::now(),
            responses: 0,
            closing: false,
            keep_alive_timeout: None,
            keep_alive_max: None,
        })
    }

    /// A GET outside the load's timings (telling the server apart, `/metrics`): status,
    /// headers and body, on a connection of its own.
    pub async fn get(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<(u16, http::HeaderMap, Bytes), super::LlmError> {
        use http_body_util::BodyExt;
        let work = async {
            let mut conn = self.connect().await.map_err(|e| e.to_string())?;
            let req = http::Request::get(self.origin.path(path))
                .header(http::header::HOST, self.origin.authority.clone())
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let resp = conn.sender.send_request(req).await.map_err(|e| chain(&e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| chain(&e))?
                .to_bytes();
            Ok((status, headers, body))
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs_f64()))?
    }
}

/// An error with its causes: the outermost text rarely says what happened.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Whether a request failed because the connection was closed under it before any of the
/// response arrived (as opposed to a server that answered badly).
pub fn closed_before_answer(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        cur = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_once_with_their_prefix_and_refused_with_the_reason() {
        let o = Origin::parse("http://127.0.0.1:8080/api/", None).unwrap();
        assert_eq!(o.path("/v1/completions"), "/api/v1/completions");
        assert_eq!(o.authority(), "127.0.0.1:8080");
        assert_eq!(o.port, 8080);
        let o = Origin::parse("http://[::1]:9000", None).unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 9000));
        assert!(matches!(
            Origin::parse("ftp://x", None),
            Err(HttpError::Scheme { .. })
        ));
        for bad in ["not a url", "127.0.0.1:8000", ""] {
            assert!(
                matches!(Origin::parse(bad, None), Err(HttpError::Url { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Origin::parse("https://x", Some(b"junk")),
            Err(HttpError::Ca(_))
        ));
    }

    #[test]
    fn keep_alive_headers_are_read() {
        let mut h = http::HeaderMap::new();
        assert_eq!(KeepAlive::of(&h), KeepAlive::default());
        h.insert("keep-alive", "timeout=5, max=100".parse().unwrap());
        assert_eq!(
            KeepAlive::of(&h),
            KeepAlive {
                close: false,
                timeout: Some(Duration::from_secs(5)),
                max: Some(100)
            }
        );
        h.insert("connection", "Keep-Alive, Close".parse().unwrap());
        assert!(KeepAlive::of(&h).close);
    }
}
