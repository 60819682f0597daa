//! Trial output logs: one append-only stdout file and one stderr file per run.
//!
//! Each trial's output is preceded by a header line, so the files read like a transcript,
//! and its exact byte range is stored with the trial. One file per trial would be simpler,
//! but creating two files per trial was the largest cost of a short trial (ext4 inode
//! allocation dominated a profile of `rigor compare true true`).

use crate::store::LogRange;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct RunLogs {
    pub stdout: File,
    pub stderr: File,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// Current lengths of the two files. Only this runner (it holds the run lock) and its
    /// trials write to them, and trials only between `begin` and `end`, so the lengths are
    /// tracked here instead of asked of the file system on every trial.
    len: (u64, u64),
}

/// Ends the file with a newline if the trial's output (`start..end`) did not; returns the
/// file's new length.
fn terminate_line(f: &mut File, start: u64, end: u64) -> io::Result<u64> {
    if end > start {
        let mut last = [0u8];
        if f.read_exact_at(&mut last, end - 1).is_ok() && last[0] != b'\n' {
            f.write_all(b"\n")?;
            return Ok(end + 1);
        }
    }
    Ok(end)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
}

impl RunLogs {
    /// Opens (or continues, on resume) `<dir>/run-<id>.stdout.log` and `.stderr.log`.
    pub fn open(dir: &Path, run_id: i64) -> io::Result<RunLogs> {
        RunLogs::open_lane(dir, run_id, None)
    }

    /// A lane's logs, `<dir>/run-<id>.lane<k>.stdout.log`: trials side by side would mix
    /// their output in one file.
    pub fn open_lane(dir: &Path, run_id: i64, lane: Option<u32>) -> io::Result<RunLogs> {
        std::fs::create_dir_all(dir)?;
        let stem = match lane {
            None => format!("run-{run_id}"),
            Some(k) => format!("run-{run_id}.lane{k}"),
        };
        let stdout_path = dir.join(format!("{stem}.stdout.log"));
        let stderr_path = dir.join(format!("{stem}.stderr.log"));
        let stdout = open_append(&stdout_path)?;
        let stderr = open_append(&stderr_path)?;
        let len = (stdout.metadata()?.len(), stderr.metadata()?.len());
        Ok(RunLogs {
            stdout,
            stderr,
            stdout_path,
            stderr_path,
            len,
        })
    }

    /// Writes the header of the next trial to both logs; returns where its output starts.
    pub fn begin(&mut self, header: &str) -> io::Result<(u64, u64)> {
        let line = format!("==> {header} <==\n");
        self.stdout.write_all(line.as_bytes())?;
        self.stderr.write_all(line.as_bytes())?;
        let n = line.len() as u64;
        self.len = (self.len.0 + n, self.len.1 + n);
        Ok(self.len)
    }

    /// The ranges the trial wrote since `begin`.
    pub fn end(&mut self, start: (u64, u64)) -> io::Result<(LogRange, LogRange)> {
        let out_end = self.stdout.metadata()?.len();
        let err_end = self.stderr.metadata()?.len();
        let range = |path: &Path, offset: u64, end: u64| LogRange {
            path: path.display().to_string(),
            offset,
            len: end.saturating_sub(offset),
        };
        let out = range(&self.stdout_path, start.0, out_end);
        let err = range(&self.stderr_path, start.1, err_end);
        // Keep the next header on a line of its own even if the program did not end with one.
        // (A trial that wrote nothing left the header's newline last.)
        self.len = (
            terminate_line(&mut self.stdout, start.0, out_end)?,
            terminate_line(&mut self.stderr, start.1, err_end)?,
        );
        Ok((out, err))
    }

    /// Cuts the middle of a trial's output when it is longer than `limit` bytes: the first
    /// and last `limit / 2` bytes stay, with a line saying how much went between them.
    /// Only the latest trial's range can be cut (it ends its file); call it after the
    /// trial's metrics and requests were read. Returns the bytes cut.
    pub fn cap(&mut self, range: &mut LogRange, limit: u64) -> io::Result<Option<u64>> {
        if limit == 0 || range.len <= limit {
            return Ok(None);
        }
        let is_stdout = Path::new(&range.path) == self.stdout_path;
        let (file, len) = if is_stdout {
            (&mut self.stdout, &mut self.len.0)
        } else {
            (&mut self.stderr, &mut self.len.1)
        };
        let end = range.offset + range.len;
        if end + 1 < *len {
            // Not the last output in the file: nothing after it may move.
            return Ok(None);
        }
        let keep = limit / 2;
        let mut tail = vec![0u8; keep as usize];
        file.read_exact_at(&mut tail, end - keep)?;
        let cut = range.len - 2 * keep;
        let marker = format!(
            "\n[rigor: {cut} bytes cut here; a trial keeps the first and last {keep} bytes of its output (experiment.log_limit)]\n"
        );
        // The file is opened for appending, where positioned writes append too: truncate,
        // then append.
        file.set_len(range.offset + keep)?;
        file.write_all(marker.as_bytes())?;
        file.write_all(&tail)?;
        range.len = keep + marker.len() as u64 + keep;
        *len = range.offset + range.len;
        if tail.last() != Some(&b'\n') {
            file.write_all(b"\n")?;
            *len += 1;
        }
        Ok(Some(cut))
    }

    /// A range's text, read from the open file.
    pub fn text(&self, r: &LogRange) -> io::Result<String> {
        let f = if Path::new(&r.path) == self.stdout_path {
            &self.stdout
        } else {
            &self.stderr
        };
        let mut buf = vec![0; r.len as usize];
        f.read_exact_at(&mut buf, r.offset)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_output_keeps_its_head_and_tail_and_says_what_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = RunLogs::open(dir.path(), 1).unwrap();
        let s1 = logs.begin("trial 1").unwrap();
        logs.stdout.write_all(b"short\n").unwrap();
        let (mut o1, _) = logs.end(s1).unwrap();
        assert_eq!(logs.cap(&mut o1, 10).unwrap(), None);
        let s2 = logs.begin("trial 2").unwrap();
        let body: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        logs.stdout.write_all(&body).unwrap();
        let (mut o2, _) = logs.end(s2).unwrap();
        assert_eq!(logs.cap(&mut o2, 1000).unwrap(), Some(99_000));
        let text = logs.text(&o2).unwrap();
        assert!(text.starts_with(std::str::from_utf8(&body[..500]).unwrap()));
        assert!(text.ends_with(std::str::from_utf8(&body[body.len() - 500..]).unwrap()));
        assert!(text.contains("[rigor: 99000 bytes cut here"), "{text}");
        // The next trial starts on a line of its own, and the file is no longer than kept.
        let s3 = logs.begin("trial 3").unwrap();
        let (o3, _) = logs.end(s3).unwrap();
        assert_eq!(logs.text(&o3).unwrap(), "");
        let all = std::fs::read_to_string(dir.path().join("run-1.stdout.log")).unwrap();
        assert!(all.len() < 2000, "{}", all.len());
        assert!(all.ends_with("\n==> trial 3 <==\n"), "{all}");
        // Earlier trials are never moved.
        assert_eq!(logs.text(&o1).unwrap(), "short\n");
    }

    #[test]
    fn each_trial_gets_its_exact_range_between_headers() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = RunLogs::open(dir.path(), 1).unwrap();
        let s1 = logs.begin("trial 1").unwrap();
        logs.stdout.write_all(b"one\ntwo").unwrap();
        let (o1, e1) = logs.end(s1).unwrap();
        let s2 = logs.begin("trial 2").unwrap();
        logs.stderr.write_all(b"oops\n").unwrap();
        let (o2, e2) = logs.end(s2).unwrap();
        assert_eq!(logs.text(&o1).unwrap(), "one\ntwo");
        assert_eq!(logs.text(&e1).unwrap(), "");
        assert_eq!(logs.text(&o2).unwrap(), "");
        assert_eq!(String::from_utf8(e2.read().unwrap()).unwrap(), "oops\n");
        let all = std::fs::read_to_string(dir.path().join("run-1.stdout.log")).unwrap();
        assert_eq!(all, "==> trial 1 <==\none\ntwo\n==> trial 2 <==\n");
        // A resumed run appends to the same files.
        drop(logs);
        let mut logs = RunLogs::open(dir.path(), 1).unwrap();
        let s3 = logs.begin("trial 3").unwrap();
        assert!(s3.0 > o1.offset + o1.len);
    }
}
