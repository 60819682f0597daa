//! A server a workload owns: started fresh for the trial, ready when a path answers 200,
//! its output kept in a log, stopped with SIGTERM then SIGKILL. A server that dies during
//! the trial fails it with the end of its log.

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    log: std::fs::File,
    pub log_path: std::path::PathBuf,
}

/// A free TCP port on the loopback interface (bound and released; the server binds it next).
pub fn free_port() -> Result<u16, super::LlmError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| super::LlmError(format!("cannot find a free port: {e}")))
}

fn port_in_use(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

impl Server {
    /// Starts `argv` (with `{port}` already substituted) and waits until
    /// `http://127.0.0.1:{port}{ready_path}` answers 200.
    pub fn start(
        argv: &[String],
        port: u16,
        ready_path: &str,
        timeout: Duration,
        log_dir: &std::path::Path,
    ) -> Result<Server, super::LlmError> {
        if argv.is_empty() {
            return Err("the server command is empty".into());
        }
        if port_in_use(port) {
            return Err(super::LlmError(format!(
                "port {port} is already in use by another program; stop it, or leave `port` unset so rigor picks a free one"
            )));
        }
        let log_path = log_dir.join(format!("server-{port}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| {
                super::LlmError(format!(
                    "cannot create the server log {}: {e}",
                    log_path.display()
                ))
            })?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log.try_clone().map_err(|e| e.to_string())?)
            // Its own group, so that stopping it stops what it started.
            .process_group(0)
            .spawn()
            .map_err(|e| super::LlmError(format!("cannot start the server `{}`: {e}", argv[0])))?;
        let mut s = Server {
            child,
            log,
            log_path,
        };
        let start = Instant::now();
        loop {
            if let Some(why) = s.died() {
                return Err(super::LlmError(format!(
                    "the server exited before it was ready ({why}); its log ends:\n{}",
                    s.log_tail(20)
                )));
            }
            if ready(port, ready_path) {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                let tail = s.log_tail(20);
                s.stop();
                return Err(super::LlmError(format!(
                    "the server was not ready within {} s (GET {ready_path} on port {port}); its log ends:\n{tail}",
                    timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Why the server is no longer running, if it is not.
    pub fn died(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for it: {e}")),
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&mut self, lines: usize) -> String {
        let mut text = String::new();
        if self.log.seek(SeekFrom::Start(0)).is_ok() {
            let _ = (&self.log).read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM to the server's group, SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if self.died().is_some() {
            return;
        }
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.died().is_some() {
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counter values from a Prometheus text exposition: `name{labels}` → value, for the
/// series whose `# TYPE` is `counter`.
pub fn prometheus_counters(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut counters = std::collections::BTreeSet::new();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(name), Some("counter")) = (it.next(), it.next()) {
                counters.insert(name.to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        // OpenMetrics names counters `x` in TYPE and `x_total` in samples.
        let base = name.strip_suffix("_total").unwrap_or(name);
        if (counters.contains(name) || counters.contains(base))
            && let Ok(v) = value.trim().parse::<f64>()
        {
            out.insert(series.to_string(), v);
        }
    }
    out
}

/// A blocking GET that succeeds on 200; a minimal HTTP/1.0 exchange, so that readiness
/// polling needs no async runtime.
fn ready(port: u16, path: &str) -> bool {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    line.starts_with("HTTP/1.") && line.get(9..12) == Some("200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_prometheus_text() {
        let t = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 120\n# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 0\n# TYPE vllm:request_success counter\nvllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"} 7.0\n";
        let c = prometheus_counters(t);
        assert_eq!(c.len(), 2);
        assert_eq!(c["llamacpp:prompt_tokens_total"], 120.0);
        assert_eq!(
            c["vllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"}"],
            7.0
        );
    }

    #[test]
    fn a_port_in_use_is_refused_and_a_dead_server_shows_its_log() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let e = Server::start(
            &["true".into()],
            port,
            "/health",
            Duration::from_secs(2),
            dir.path(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("already in use"), "{e}");
        drop(l);
        let argv: Vec<String> = [
            "sh",
            "-c",
            "echo loading model; echo 'error: out of memory' >&2; exit 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = Server::start(
            &argv,
            free_port().unwrap(),
            "/health",
            Duration::from_secs(5),
            dir.path(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("exited before it was ready")
                && e.to_string().contains("error: out of memory"),
            "{e}"
        );
    }
}
