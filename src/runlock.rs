//! One runner per store, and no orphaned trial after a killed runner.
//!
//! The runner holds an exclusive `flock` on `<store>.lock` and writes the process group of
//! the trial it is running (pid and kernel start time) into it. A runner killed with -9
//! cannot stop its trial, so the next runner on the store does: it kills that process group
//! if a process with the same pid *and* start time still exists (the start time guards
//! against a recycled pid). This keeps the spawn path free of `pre_exec` hooks, which would
//! force a full `fork()` instead of the much cheaper vfork-style `posix_spawn`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("another rigor process is running on this store ({0}); wait for it or stop it first")]
    Held(PathBuf),
}

pub struct RunLock {
    file: File,
}

/// The kernel start time of `pid` (clock ticks since boot), from /proc/<pid>/stat.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the command name (field 2) may contain spaces, so count from its ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

impl RunLock {
    /// Takes the lock for `store`. Returns a note when a trial left by a killed runner was
    /// found still running and stopped.
    pub fn acquire(store: &Path) -> Result<(RunLock, Option<String>), LockError> {
        let path = store.with_extension("lock");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LockError::Io(dir.to_path_buf(), e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(LockError::Held(store.to_path_buf()));
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let mut note = None;
        let mut words = text.split_whitespace().map(|w| w.parse::<u64>().ok());
        if let (Some(Some(pid)), Some(Some(start))) = (words.next(), words.next()) {
            let pid = pid as i32;
            if pid > 1 && start_time(pid) == Some(start) {
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                note = Some(format!(
                    "stopped process group {pid}: a trial left running by a runner that was killed"
                ));
            }
        }
        let mut lock = RunLock { file };
        lock.clear();
        Ok((lock, note))
    }

    /// Records the trial now running (its pid is its process group id).
    pub fn set_running(&mut self, pid: i32) {
        if let Some(start) = start_time(pid) {
            self.write(&format!("{pid} {start}\n"));
        }
    }

    pub fn clear(&mut self) {
        self.write("");
    }

    fn write(&mut self, s: &str) {
        // Best effort: the lock file only helps clean up after a crash.
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn one_runner_per_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let (_held, note) = RunLock::acquire(&store).unwrap();
        assert!(note.is_none());
        assert!(matches!(RunLock::acquire(&store), Err(LockError::Held(_))));
    }

    #[test]
    fn a_trial_left_by_a_dead_runner_is_stopped_and_a_recycled_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        {
            let (mut lock, _) = RunLock::acquire(&store).unwrap();
            lock.set_running(child.id() as i32);
            // Dropped without clear(): as if the runner died.
        }
        let (_lock, note) = RunLock::acquire(&store).unwrap();
        assert!(note.unwrap().contains(&child.id().to_string()));
        let status = child.wait().unwrap();
        assert!(!status.success(), "the leftover trial was killed");

        // A pid whose start time does not match is someone else's process: leave it alone.
        drop(_lock);
        std::fs::write(
            store.with_extension("lock"),
            format!("{} 1\n", std::process::id()),
        )
        .unwrap();
        let (_lock, note) = RunLock::acquire(&store).unwrap();
        assert!(note.is_none());
    }
}
