//! Runs one process the way a benchmark needs: its own process group (so a timeout or
//! Ctrl-C stops everything it started), output straight to log files, wall time from a
//! monotonic clock around spawn and reap, and CPU time and peak RSS from `wait4`.

use super::window::Copier;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a process gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(3);
/// How often a waiting runner looks at the interrupt flag when no signal wakes it.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

pub struct ExecSpec<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: &'a Path,
    /// Where the process's output goes (rigor's per-run logs, opened for appending).
    pub stdout: &'a File,
    pub stderr: &'a File,
    pub timeout: Option<Duration>,
    /// Set by a signal handler; the process group is stopped when it turns true.
    pub interrupt: &'a AtomicBool,
    /// Called with the child's pid (= its process group id) once it runs.
    pub on_start: &'a mut dyn FnMut(libc::pid_t),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutcome {
    pub termination: Termination,
    pub wall: Duration,
    /// From `wait4`: the process and the descendants it waited for.
    pub user: Duration,
    pub sys: Duration,
    pub max_rss_kib: u64,
    /// Processes of the trial still alive after its main process exited; they were killed.
    pub stragglers_killed: bool,
    /// The window markers the process printed on stdout, stamped as they were read.
    pub markers: Vec<super::window::Marker>,
    /// Its stdout was still held open after the trial ended (by a process that left the
    /// trial's group); what came after was not kept.
    pub stdout_abandoned: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot pass the log file to the process: {0}")]
    Log(io::Error),
    #[error("cannot write the trial's output to its log (what it printed after is lost): {0}")]
    LogWrite(io::Error),
    #[error("cannot start `{program}`: {error}")]
    Spawn { program: String, error: io::Error },
    #[error("waiting for the process failed: {0}")]
    Wait(io::Error),
}

/// Where `program` would be found by `execvp` with search path `path`. Resolving once per
/// run keeps the PATH walk (one failed `execve` per directory) out of every timed trial.
pub fn resolve_program(program: &str, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = path
        .map(str::to_string)
        .or_else(|| std::env::var("PATH").ok())?;
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

pub fn execute(spec: &mut ExecSpec<'_>) -> Result<ExecOutcome, ExecError> {
    let program = spec.argv.first().map(String::as_str).unwrap_or("");
    // Stdout goes through a pipe that rigor copies to the log, so that window markers are
    // stamped as they arrive. The copier's thread is started before the clock: its start
    // is the harness's cost, not the trial's.
    let (reader, writer) = std::io::pipe().map_err(ExecError::Log)?;
    let log = spec.stdout.try_clone().map_err(ExecError::Log)?;
    let copier = Copier::spawn(reader, log).map_err(ExecError::Log)?;
    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.workdir)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(spec.stderr.try_clone().map_err(ExecError::Log)?)
        .process_group(0);
    let start = Instant::now();
    let spawned = cmd.spawn();
    // The command holds the pipe's write end: only the trial's processes may keep it open,
    // or the copier would never see the end of the output.
    drop(cmd);
    let child = match spawned {
        Ok(c) => c,
        Err(error) => {
            copier.finish();
            return Err(ExecError::Spawn {
                program: program.to_string(),
                error,
            });
        }
    };
    let pid = child.id() as libc::pid_t;
    let copier = Some(copier);
    (spec.on_start)(pid);
    let deadline = spec.timeout.map(|t| start + t);
    let mut waiter = ExitWaiter::new(pid);

    let mut termination = None;
    loop {
        if spec.interrupt.load(Ordering::Relaxed) {
            termination = Some(Termination::Interrupted);
            break;
        }
        let mut slice = INTERRUPT_POLL;
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                termination = Some(Termination::TimedOut);
                break;
            }
            slice = slice.min(d - now);
        }
        if waiter.wait_for(slice) {
            break;
        }
    }
    if termination.is_some() {
        stop_group(pid, &mut waiter);
    }
    let (status, rusage) = match reap(pid) {
        Ok(r) => r,
        Err(e) => {
            // The copier is not left behind to write into the next trial's part of the log.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            if let Some(c) = copier {
                c.finish();
            }
            return Err(ExecError::Wait(e));
        }
    };
    let wall = start.elapsed();
    drop(child);

    // Anything left in the trial's process group would run into the next trial.
    let stragglers_killed = unsafe { libc::kill(-pid, 0) } == 0;
    if stragglers_killed {
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }

    let copied = copier.map(Copier::finish).unwrap_or_default();
    if let Some(e) = copied.error {
        return Err(ExecError::LogWrite(e));
    }

    let termination = termination.unwrap_or(if libc::WIFSIGNALED(status) {
        Termination::Signaled(libc::WTERMSIG(status))
    } else {
        Termination::Exited(libc::WEXITSTATUS(status))
    });
    Ok(ExecOutcome {
        termination,
        wall,
        user: timeval(rusage.ru_utime),
        sys: timeval(rusage.ru_stime),
        max_rss_kib: rusage.ru_maxrss.max(0) as u64,
        stragglers_killed,
        markers: copied.markers,
        stdout_abandoned: copied.abandoned,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// SIGTERM to the whole group, then SIGKILL after the grace period.
fn stop_group(pid: libc::pid_t, waiter: &mut ExitWaiter) {
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until {
        if waiter.wait_for(Duration::from_millis(50)) {
            break;
        }
    }
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

fn reap(pid: libc::pid_t) -> io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return Ok((status, rusage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Waits for a child's exit without reaping it, so `wait4` can collect its rusage after.
/// Uses a pidfd (Linux ≥ 5.3): the wake-up is immediate, so wall times carry no polling
/// delay. Older kernels fall back to `waitid(WNOWAIT)` polling.
struct ExitWaiter {
    pid: libc::pid_t,
    pidfd: Option<i32>,
}

impl ExitWaiter {
    fn new(pid: libc::pid_t) -> Self {
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        ExitWaiter {
            pid,
            pidfd: (fd >= 0).then_some(fd as i32),
        }
    }

    /// True once the child has exited (it stays a zombie until reaped).
    fn wait_for(&mut self, timeout: Duration) -> bool {
        match self.pidfd {
            Some(fd) => {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = timeout.as_millis().clamp(0, i32::MAX as u128) as i32;
                let r = unsafe { libc::poll(&mut pfd, 1, ms) };
                r > 0 && pfd.revents != 0
            }
            None => {
                let until = Instant::now() + timeout;
                let mut nap = Duration::from_micros(50);
                loop {
                    if self.exited_nowait() {
                        return true;
                    }
                    let now = Instant::now();
                    if now >= until {
                        return false;
                    }
                    std::thread::sleep(nap.min(until - now));
                    nap = (nap * 2).min(Duration::from_millis(5));
                }
            }
        }
    }

    fn exited_nowait(&self) -> bool {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        r == 0 && unsafe { info.si_pid() } != 0
    }
}

impl Drop for ExitWaiter {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd {
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &[&str], timeout: Option<Duration>) -> (Result<ExecOutcome, ExecError>, String) {
        let dir = tempfile::tempdir().unwrap();
        let out_path = dir.path().join("out");
        let out = File::create(&out_path).unwrap();
        let err = File::create(dir.path().join("err")).unwrap();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let flag = AtomicBool::new(false);
        let r = execute(&mut ExecSpec {
            argv: &argv,
            env: &[("RIGOR_TEST_VAR".into(), "hello".into())],
            workdir: dir.path(),
            stdout: &out,
            stderr: &err,
            timeout,
            interrupt: &flag,
            on_start: &mut |_| {},
        });
        (r, std::fs::read_to_string(&out_path).unwrap_or_default())
    }

    #[test]
    fn records_exit_status_output_and_env() {
        let (r, out) = run(&["sh", "-c", "echo $RIGOR_TEST_VAR; exit 3"], None);
        let r = r.unwrap();
        assert_eq!(r.termination, Termination::Exited(3));
        assert_eq!(out, "hello\n");
        assert!(r.wall > Duration::ZERO);
    }

    #[test]
    fn times_out_and_kills_the_whole_group() {
        let t0 = Instant::now();
        let (r, _) = run(
            &["sh", "-c", "sleep 30 & sleep 30"],
            Some(Duration::from_millis(200)),
        );
        assert_eq!(r.unwrap().termination, Termination::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn kills_background_stragglers_after_a_normal_exit() {
        let (r, _) = run(&["sh", "-c", "sleep 30 >/dev/null 2>&1 & exit 0"], None);
        let r = r.unwrap();
        assert_eq!(r.termination, Termination::Exited(0));
        assert!(r.stragglers_killed);
    }

    #[test]
    fn reports_a_missing_program_as_a_spawn_error() {
        let (r, _) = run(&["definitely-not-a-program-xyz"], None);
        let msg = r.unwrap_err().to_string();
        assert!(
            msg.contains("cannot start `definitely-not-a-program-xyz`"),
            "{msg}"
        );
    }

    #[test]
    fn resolves_programs_like_execvp() {
        assert_eq!(
            resolve_program("/bin/sh", None),
            Some(PathBuf::from("/bin/sh"))
        );
        let sh = resolve_program("sh", Some("/nonexistent:/bin")).unwrap();
        assert_eq!(sh, PathBuf::from("/bin/sh"));
        assert_eq!(resolve_program("sh", Some("/nonexistent")), None);
    }

    #[test]
    fn measures_cpu_time_of_a_busy_child() {
        let (r, _) = run(
            &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
            ],
            None,
        );
        let r = r.unwrap();
        assert!(r.user + r.sys > Duration::from_millis(10), "{r:?}");
        assert!(r.max_rss_kib > 0);
    }
}
