//! The store's journal: the runner appends each finished attempt to `<store>.journal` as
//! one JSON line, in a single `write`, before its next trial starts, and the SQLite store
//! receives the attempts later, many to a transaction (`run::writer`). A transaction per
//! attempt was most of a short trial's bookkeeping; the journal is what makes batching
//! safe. A runner killed with -9 leaves in the journal every attempt it finished (the page
//! cache keeps what `write` returned from), and the next runner on the store imports them
//! ([`Store::import_journal`](super::Store::import_journal)) before anything else. Like
//! SQLite's WAL under `synchronous = NORMAL`, it survives the process, not a crash of the
//! operating system.
//!
//! A last line cut short (a kill inside the `write`, a full disk) is an attempt whose
//! recording never finished: it is not imported, and its trial runs again. A complete line
//! that cannot be read is not dropped either: the journal is kept, renamed, for a person
//! to look at.

use super::AttemptRecord;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("the store's journal {path}: {error}")]
pub struct JournalError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// Where the journal of the store at `store` lives: beside the file it really is, so that
/// every name of one store (a symlink, a relative path) finds the same journal.
pub fn path_of(store: &Path) -> PathBuf {
    let store = store.canonicalize().unwrap_or_else(|_| store.to_path_buf());
    let mut name = store.into_os_string();
    name.push(".journal");
    PathBuf::from(name)
}

/// An open journal, appended to by one runner (it holds the store's lock).
pub struct Journal {
    file: File,
    path: PathBuf,
    len: u64,
    line: Vec<u8>,
}

impl Journal {
    /// A fresh, empty journal for the store at `store`. Whatever an earlier runner left in
    /// it must have been imported first.
    pub fn create(store: &Path) -> Result<Journal, JournalError> {
        let path = path_of(store);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|error| JournalError {
                path: path.clone(),
                error,
            })?;
        Ok(Journal {
            file,
            path,
            len: 0,
            line: Vec::with_capacity(4096),
        })
    }

    /// Appends one attempt; once this returns, a kill -9 cannot lose it.
    pub fn append(&mut self, a: &AttemptRecord) -> Result<(), JournalError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, a).map_err(|e| self.error(e.into()))?;
        self.line.push(b'\n');
        // One buffer, so one `write` unless the kernel cuts it short; after a failed or
        // partial write the line is torn, which `read` recognises.
        if let Err(e) = self.file.write_all(&self.line) {
            return Err(self.error(e));
        }
        self.len += self.line.len() as u64;
        Ok(())
    }

    /// Bytes appended since the journal was created or last cleared.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the journal: only once the store has every attempt in it.
    pub fn clear(&mut self) -> Result<(), JournalError> {
        self.file.set_len(0).map_err(|e| self.error(e))?;
        // The file is written with explicit positions: back to the start.
        use std::io::Seek;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| self.error(e))?;
        self.len = 0;
        Ok(())
    }

    /// Removes the journal: the store has every attempt in it.
    pub fn remove(self) -> Result<(), JournalError> {
        std::fs::remove_file(&self.path).map_err(|error| JournalError {
            path: self.path.clone(),
            error,
        })
    }

    fn error(&self, error: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.clone(),
            error,
        }
    }
}

/// What a journal left behind holds.
#[derive(Debug, Default)]
pub struct Replay {
    pub attempts: Vec<AttemptRecord>,
    /// The last line was cut short: an attempt whose recording never finished.
    pub torn: bool,
    /// Complete lines that could not be read: (line number, why).
    pub unreadable: Vec<(usize, String)>,
}

/// Reads the journal of the store at `store`; `None` when there is none or it is empty.
pub fn read(store: &Path) -> Result<Option<Replay>, JournalError> {
    let path = path_of(store);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(JournalError { path, error }),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut out = Replay::default();
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let Some(body) = line.strip_suffix(b"\n") else {
            // Only the last line can lack its newline: the write that was cut short.
            out.torn = true;
            break;
        };
        if body.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AttemptRecord>(body) {
            Ok(a) => out.attempts.push(a),
            Err(e) => out.unreadable.push((n, e.to_string())),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::MetricValue;

    fn attempt(index: u32, run_id: i64, session_id: i64) -> AttemptRecord {
        let mut a = crate::store::tests::an_attempt(run_id, session_id, index);
        a.wall_s = Some(0.1 + f64::from(index) / 3.0);
        a.env = vec![("K".into(), "v \"quoted\"\n".into())];
        // Values JSON must carry exactly: the shortest decimal of 1/3, a subnormal, 0.1 + 0.2.
        a.metrics = vec![(
            "x".into(),
            MetricValue {
                value: 1.0 / 3.0 + f64::from(index),
                unit: Some("s".into()),
                better: None,
                samples: vec![5e-324, 0.1 + 0.2],
            },
        )];
        a
    }

    #[test]
    fn attempts_round_trip_exactly_and_a_torn_last_line_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let mut j = Journal::create(&store).unwrap();
        let written: Vec<_> = (0..3).map(|i| attempt(i, 1, 1)).collect();
        for a in &written {
            j.append(a).unwrap();
        }
        let replay = read(&store).unwrap().unwrap();
        assert_eq!(replay.attempts, written);
        assert!(!replay.torn && replay.unreadable.is_empty());

        // A kill inside the last write: the line is cut short, the others stand.
        let path = path_of(&store);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let replay = read(&store).unwrap().unwrap();
        assert_eq!(replay.attempts, written[..2]);
        assert!(replay.torn);

        j.clear().unwrap();
        assert!(j.is_empty());
        assert_eq!(read(&store).unwrap().map(|r| r.attempts.len()), None);
        j.append(&written[0]).unwrap();
        assert_eq!(read(&store).unwrap().unwrap().attempts, written[..1]);
    }

    #[test]
    fn every_name_of_a_store_finds_the_same_journal() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("s.db");
        std::fs::write(&real, b"").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(path_of(&link), path_of(&real));
    }

    #[test]
    fn import_stores_each_attempt_once_and_keeps_an_unreadable_journal() {
        let (_dir, path, store, run, session) = crate::store::tests::a_store();
        // The first attempt reached the store before the runner died; the journal has all three.
        store.record_attempt(&attempt(0, run, session)).unwrap();
        let mut j = Journal::create(&path).unwrap();
        for i in 0..3 {
            j.append(&attempt(i, run, session)).unwrap();
        }
        drop(j);
        assert_eq!(store.unimported().unwrap(), 2);
        let imp = store.import_journal().unwrap().unwrap();
        assert_eq!((imp.imported, imp.present, imp.torn), (2, 1, false));
        assert_eq!(store.unimported().unwrap(), 0);
        assert!(!path_of(&path).exists(), "an imported journal is removed");
        assert_eq!(store.attempts(run).unwrap().len(), 3);
        assert_eq!(store.import_journal().unwrap(), None);

        // A complete line that cannot be read: the readable ones are stored, the file kept.
        let mut j = Journal::create(&path).unwrap();
        j.append(&attempt(3, run, session)).unwrap();
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path_of(&path))
            .unwrap();
        f.write_all(b"{\"not\": \"an attempt\"}\n").unwrap();
        let imp = store.import_journal().unwrap().unwrap();
        assert_eq!(imp.imported, 1);
        assert_eq!(imp.unreadable.len(), 1);
        assert_eq!(imp.unreadable[0].0, 2);
        let kept = imp.kept_at.unwrap();
        assert!(kept.exists() && !path_of(&path).exists());
    }
}
