//! Measurement windows: the part of a trial its program marks as the one that matters
//! (the decode after the model is built, the load after the server is up). The program
//! prints `{"event": "begin"}` and `{"event": "end"}` lines on stdout (with `"window":
//! "name"` for several windows; a window may be visited many times). rigor reads the
//! trial's stdout through a pipe and stamps each marker the moment it reads it, so no
//! clock of the program's is trusted; the telemetry is then reduced over the window as
//! well as over the whole trial (`window.gpu.energy_j` next to `gpu.energy_j`).

use crate::trial::WindowSpan;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

crate::reason_error!(
    /// Why a trial's markers do not make windows (a `begin` without its `end`...).
    WindowError
);

/// How a built-in workload marks its window: called with `true` at its begin, `false` at
/// its end (`rigor probe` prints the marker lines).
pub type Mark = Arc<dyn Fn(bool) + Send + Sync>;

/// One marker line, stamped when rigor read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: Instant,
    /// `CLOCK_MONOTONIC` at the same moment, in ns: comparable with a timestamp the
    /// program put in the line itself (how the marker latency is measured, bench/).
    pub mono_ns: u64,
    /// Which read from the pipe brought it: markers read together share one stamp.
    pub chunk: u64,
    pub begin: bool,
    /// "" for the unnamed window.
    pub window: String,
    /// The line as printed, for error messages.
    pub line: String,
}

#[derive(serde::Deserialize)]
struct MarkerLine {
    event: String,
    #[serde(default)]
    window: Option<String>,
}

/// Whether a window name is usable in metric names (`window.NAME.gpu.energy_j`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `Some((begin, window))` when `line` is a marker. Cheap on every other line: only a
/// line that starts with `{` and names `"event"` is parsed.
pub fn parse(line: &str) -> Option<(bool, String)> {
    let t = line.trim();
    if !t.starts_with('{') || !t.contains("\"event\"") {
        return None;
    }
    let m: MarkerLine = serde_json::from_str(t).ok()?;
    let begin = match m.event.as_str() {
        "begin" => true,
        "end" => false,
        _ => return None,
    };
    Some((begin, m.window.unwrap_or_default()))
}

/// `CLOCK_MONOTONIC` now, in ns (the clock `time.monotonic_ns()` reads in Python).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Longest line looked at for a marker; longer lines are copied and not parsed.
const MAX_LINE: usize = 64 * 1024;
/// How long the copier keeps reading after the trial's processes are gone: a process that
/// left the trial's group (a daemon) may hold the pipe open for ever.
const DRAIN: Duration = Duration::from_millis(500);

/// What the copier found when the trial ended.
#[derive(Debug, Default)]
pub struct Copied {
    pub markers: Vec<Marker>,
    /// A write to the log failed (a full disk): what the trial printed after it is lost.
    pub error: Option<io::Error>,
    /// The pipe was still open after the trial ended (a process outside its group holds it).
    pub abandoned: bool,
}

/// Copies a trial's stdout from its pipe to the run's log file on a thread of its own,
/// stamping markers as they arrive. The thread outlives the trial: each runner thread
/// keeps an idle one for its next trial, because starting a thread (and a buffer) for
/// every trial cost a short trial more than the copying.
pub struct Copier {
    worker: Option<CopyThread>,
    finished: Arc<AtomicBool>,
}

/// A copying thread: takes one trial's pipe at a time.
struct CopyThread {
    jobs: mpsc::Sender<(std::io::PipeReader, File, Arc<AtomicBool>)>,
    results: mpsc::Receiver<Copied>,
}

thread_local! {
    /// The idle copying thread of the runner thread that started it.
    static IDLE: std::cell::RefCell<Option<CopyThread>> = const { std::cell::RefCell::new(None) };
}

impl CopyThread {
    fn spawn() -> io::Result<CopyThread> {
        let (jobs, job_rx) = mpsc::channel::<(std::io::PipeReader, File, Arc<AtomicBool>)>();
        let (result_tx, results) = mpsc::channel();
        // Detached: it ends when its runner thread drops the job channel.
        std::thread::Builder::new()
            .name("rigor-stdout".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                // Ends when its runner thread (the job's sender) is gone.
                while let Ok((pipe, log, finished)) = job_rx.recv() {
                    if result_tx
                        .send(copy(pipe, log, &finished, &mut buf))
                        .is_err()
                    {
                        return;
                    }
                }
            })?;
        Ok(CopyThread { jobs, results })
    }
}

impl Copier {
    pub fn spawn(pipe: std::io::PipeReader, log: File) -> io::Result<Copier> {
        let worker = match IDLE.with(|idle| idle.borrow_mut().take()) {
            Some(w) => w,
            None => CopyThread::spawn()?,
        };
        let finished = Arc::new(AtomicBool::new(false));
        worker
            .jobs
            .send((pipe, log, finished.clone()))
            .map_err(|_| io::Error::other("the stdout copier is gone"))?;
        Ok(Copier {
            worker: Some(worker),
            finished,
        })
    }

    /// Called once the trial's processes are gone: reads what is left, then returns.
    pub fn finish(mut self) -> Copied {
        self.finished.store(true, Ordering::Relaxed);
        let Some(worker) = self.worker.take() else {
            return Copied::default();
        };
        match worker.results.recv() {
            Ok(copied) => {
                IDLE.with(|idle| *idle.borrow_mut() = Some(worker));
                copied
            }
            Err(_) => Copied {
                error: Some(io::Error::other("the stdout copier panicked")),
                ..Copied::default()
            },
        }
    }
}

fn copy(
    mut pipe: std::io::PipeReader,
    mut log: File,
    finished: &AtomicBool,
    buf: &mut [u8],
) -> Copied {
    let mut out = Copied::default();
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    let mut finished_at: Option<Instant> = None;
    let mut chunk = 0u64;
    let fd = pipe.as_raw_fd();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Once the trial is over, whatever still holds the pipe gets DRAIN, however much or
        // little it writes: checked on every pass, not only when the pipe is quiet.
        if finished.load(Ordering::Relaxed) {
            let since = *finished_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= DRAIN {
                out.abandoned = true;
                break;
            }
        }
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 50) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            out.error.get_or_insert(e);
            break;
        }
        // Read only what poll says is there (data, or the writers gone): a read never blocks.
        if ready == 0 || pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            continue;
        }
        chunk += 1;
        let n = match pipe.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.error.get_or_insert(e);
                break;
            }
        };
        let at = Instant::now();
        let mono_ns = monotonic_ns();
        if out.error.is_none()
            && let Err(e) = log.write_all(&buf[..n])
        {
            // Keep draining the pipe so that the program is not blocked on a full one.
            out.error = Some(e);
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                if !overlong
                    && let Ok(text) = std::str::from_utf8(&line)
                    && let Some((begin, window)) = parse(text)
                {
                    out.markers.push(Marker {
                        at,
                        mono_ns,
                        chunk,
                        begin,
                        window,
                        line: text.trim().to_string(),
                    });
                }
                line.clear();
                overlong = false;
            } else if line.len() < MAX_LINE {
                line.push(b);
            } else {
                overlong = true;
            }
        }
    }
    out
}

/// The windows the markers make, in seconds from `origin`: by name, in order. A `begin`
/// without its `end`, an `end` without a `begin`, or a bad name is an error that fails the
/// trial (a window that cannot be trusted must not be reported).
pub fn spans(markers: &[Marker], origin: Instant) -> Result<Vec<WindowSpan>, WindowError> {
    // Markers are read after the clock's origin (taken before the trial starts).
    let secs = |at: Instant| at.saturating_duration_since(origin).as_secs_f64();
    let mut open: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    let mut out = Vec::new();
    let shown = |w: &str| {
        if w.is_empty() {
            "the window".to_string()
        } else {
            format!("window `{w}`")
        }
    };
    for m in markers {
        if !m.window.is_empty() && !valid_name(&m.window) {
            return Err(WindowError(format!(
                "marker `{}`: a window name is 1 to 64 letters, digits, `_` or `-`",
                m.line
            )));
        }
        let t = secs(m.at);
        match (m.begin, open.get(m.window.as_str())) {
            (true, None) => {
                open.insert(&m.window, (t, m.chunk));
            }
            (true, Some(_)) => {
                return Err(WindowError(format!(
                    "`{}` at {t:.3} s: {} was already open (every begin needs its end first)",
                    m.line,
                    shown(&m.window)
                )));
            }
            (false, Some(&(_, chunk))) if chunk == m.chunk => {
                return Err(WindowError(format!(
                    "the begin and end of {} arrived in one read of the program's output, so their times cannot be told apart: its stdout is buffered; flush after each marker (`print(..., flush=True)` in Python)",
                    shown(&m.window)
                )));
            }
            (false, Some(&(b, _))) => {
                out.push(WindowSpan {
                    window: m.window.clone(),
                    begin_s: b,
                    end_s: t,
                });
                open.remove(m.window.as_str());
            }
            (false, None) => {
                return Err(WindowError(format!(
                    "`{}` at {t:.3} s: {} was not open (an end without its begin)",
                    m.line,
                    shown(&m.window)
                )));
            }
        }
    }
    if let Some((w, (b, _))) = open.into_iter().next() {
        return Err(WindowError(format!(
            "the program printed a begin for {} at {b:.3} s and never its end",
            shown(w)
        )));
    }
    Ok(out)
}

/// The names windows' metrics go under: `window` for the unnamed one, `window.NAME`.
pub fn prefix(window: &str) -> String {
    if window.is_empty() {
        "window".into()
    } else {
        format!("window.{window}")
    }
}

/// The metric holding a window's total time: `window_time`, `window_time.NAME`.
pub fn time_metric(window: &str) -> String {
    if window.is_empty() {
        "window_time".into()
    } else {
        format!("window_time.{window}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(origin: Instant, ms: u64, begin: bool, w: &str) -> Marker {
        Marker {
            at: origin + Duration::from_millis(ms),
            mono_ns: 0,
            chunk: ms,
            begin,
            window: w.into(),
            line: format!("{{\"event\":\"{}\"}}", if begin { "begin" } else { "end" }),
        }
    }

    #[test]
    fn markers_are_recognised_and_nothing_else() {
        assert_eq!(parse(r#"{"event": "begin"}"#), Some((true, "".into())));
        assert_eq!(
            parse(r#"  {"event":"end","window":"decode"}  "#),
            Some((false, "decode".into()))
        );
        assert_eq!(parse(r#"{"event": "epoch"}"#), None);
        assert_eq!(parse(r#"{"metric": "x", "value": 1}"#), None);
        assert_eq!(parse(r#"{"event": "begin""#), None);
        assert_eq!(parse("event begin"), None);
    }

    #[test]
    fn pairs_make_spans_and_mistakes_are_errors() {
        let o = Instant::now();
        let s = spans(
            &[
                m(o, 100, true, ""),
                m(o, 150, true, "a"),
                m(o, 300, false, ""),
                m(o, 400, false, "a"),
                m(o, 500, true, ""),
                m(o, 600, false, ""),
            ],
            o,
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert!((s[0].begin_s - 0.1).abs() < 1e-9 && (s[0].end_s - 0.3).abs() < 1e-9);
        assert_eq!(s[1].window, "a");
        let e = spans(&[m(o, 1, true, "")], o).unwrap_err().0;
        assert!(e.contains("never its end"), "{e}");
        let e = spans(&[m(o, 1, false, "x")], o).unwrap_err().0;
        assert!(e.contains("window `x` was not open"), "{e}");
        let e = spans(&[m(o, 1, true, ""), m(o, 2, true, "")], o)
            .unwrap_err()
            .0;
        assert!(e.contains("already open"), "{e}");
        let e = spans(&[m(o, 1, true, "a b")], o).unwrap_err().0;
        assert!(e.contains("window name"), "{e}");
        // Begin and end in one read: buffered output, no time can be given.
        let mut end = m(o, 5, false, "");
        end.chunk = 5;
        let mut begin = m(o, 5, true, "");
        begin.chunk = 5;
        let e = spans(&[begin, end], o).unwrap_err().0;
        assert!(e.contains("stdout is buffered"), "{e}");
    }
}
