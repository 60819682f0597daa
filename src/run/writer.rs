//! How an attempt reaches the store. The runner appends it to the store's journal on its
//! own thread (one `write`: from then on a kill -9 cannot lose it) and hands it to a writer
//! thread, which inserts what has accumulated into SQLite, one transaction per batch. The
//! writer runs at idle CPU priority (`SCHED_IDLE`): it gets only CPU time that nothing
//! else wants, so neither a trial nor the gap before the next one pays for the store. A
//! trial that keeps every CPU busy leaves the writer behind; the journal holds the
//! backlog, and the writer catches up between trials or when the session ends.

use crate::store::journal::Journal;
use crate::store::{AttemptRecord, Store, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A journal this large is emptied once the store has caught up with it.
const CLEAR_AT: u64 = 16 << 20;
/// Attempts per transaction at most: a backlog is stored in steps, each one short.
const BATCH: usize = 512;
/// How long the writer gathers attempts before a transaction: short trials share one,
/// and a reader of the store (`rigor status`) is never more than this behind.
const GATHER: Duration = Duration::from_millis(50);

enum Msg {
    Attempt(Box<AttemptRecord>),
    /// Answered once everything sent before it is stored (or storing failed).
    Flush(mpsc::Sender<()>),
}

#[derive(Default)]
struct Shared {
    /// Attempts stored so far.
    stored: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<StoreError>>,
}

pub struct Writer {
    journal: Option<Journal>,
    tx: Option<mpsc::Sender<Msg>>,
    handle: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Attempts handed to the writer thread so far.
    sent: u64,
}

impl Writer {
    /// Starts the writer on `store` (a second connection to the runner's store) with a
    /// fresh journal. What an earlier runner left in the journal must be imported first.
    pub fn start(store: Store) -> Result<Writer, StoreError> {
        store.checkpoint_often()?;
        let journal = Journal::create(store.path())?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let handle = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("rigor-store".into())
                .spawn(move || serve(store, rx, &shared))
                .map_err(|e| StoreError::Other(format!("cannot start the store's writer: {e}")))?
        };
        Ok(Writer {
            journal: Some(journal),
            tx: Some(tx),
            handle: Some(handle),
            shared,
            sent: 0,
        })
    }

    /// Records one attempt: journalled when this returns `Ok`, stored soon after.
    pub fn record(&mut self, a: AttemptRecord) -> Result<(), StoreError> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        let journal = self
            .journal
            .as_mut()
            .ok_or_else(|| StoreError::Other("the store's writer has stopped".into()))?;
        journal.append(&a)?;
        self.sent += 1;
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Attempt(Box::new(a))).is_ok());
        if !sent {
            return Err(self.error().unwrap_or_else(|| {
                StoreError::Other(
                    "the store's writer stopped; the attempt is in the journal".into(),
                )
            }));
        }
        // A long session of short trials: once the store has caught up (the flush makes
        // the writer store what it is gathering, this attempt included), the journal
        // starts again from empty.
        if self.journal.as_ref().is_some_and(|j| j.len() >= CLEAR_AT) {
            self.flush()?;
            if let Some(j) = self.journal.as_mut() {
                j.clear()?;
            }
        }
        Ok(())
    }

    /// Why storing failed, once it has (the attempts stay in the journal).
    pub fn error(&self) -> Option<StoreError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .or_else(|| Some(StoreError::Other("storing an attempt failed".into())))
    }

    /// Waits until the store has every attempt recorded so far.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let (ack, done) = mpsc::channel();
        if let Some(tx) = &self.tx
            && tx.send(Msg::Flush(ack)).is_ok()
        {
            self.wake();
            let _ = done.recv();
        }
        if let Some(e) = self.error() {
            return Err(e);
        }
        self.all_stored()
    }

    /// Every attempt handed over is in the store; else (the writer thread died) an error,
    /// and the journal keeps them.
    fn all_stored(&self) -> Result<(), StoreError> {
        let stored = self.shared.stored.load(Ordering::Acquire);
        if stored == self.sent {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "the store's writer stopped with {} attempt(s) not stored; they are in the journal, which the next `rigor run` imports",
                self.sent - stored
            )))
        }
    }

    /// Stores everything, stops the thread and removes the journal: the store has it all.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.stop();
        if let Some(e) = self.error() {
            return Err(e);
        }
        self.all_stored()?;
        match self.journal.take() {
            Some(j) => Ok(j.remove()?),
            None => Ok(()),
        }
    }

    /// The writer thread, should it be gathering (parked), stores what it has now.
    fn wake(&self) {
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        self.wake();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    /// What was sent is still stored; the journal stays, and the next runner's import
    /// finds every attempt in it already there.
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(store: Store, rx: mpsc::Receiver<Msg>, shared: &Shared) {
    idle_priority();
    let mut batch = Vec::new();
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let until = Instant::now() + GATHER;
        let mut next = Some(first);
        // Gathering, the thread is parked rather than waiting on the channel: a send to a
        // receiver blocked on it wakes that thread (a futex call and a switch on another
        // CPU, per trial); a send to a parked one is a push. A flush and the end of the
        // session unpark it.
        loop {
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Attempt(a) => batch.push(*a),
                    Msg::Flush(ack) => acks.push(ack),
                }
                if batch.len() < BATCH && acks.is_empty() {
                    next = rx.try_recv().ok();
                }
            }
            // A flush, a full batch or the end of the run stores at once.
            let now = Instant::now();
            if batch.len() >= BATCH || !acks.is_empty() || now >= until {
                break;
            }
            match rx.try_recv() {
                Ok(msg) => next = Some(msg),
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => std::thread::park_timeout(until - now),
            }
        }
        if !batch.is_empty() && !shared.failed.load(Ordering::Acquire) {
            match store.record_attempts(&batch) {
                Ok(_) => {
                    shared
                        .stored
                        .fetch_add(batch.len() as u64, Ordering::Release);
                }
                Err(e) => {
                    *shared.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    shared.failed.store(true, Ordering::Release);
                }
            }
        }
        batch.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// `SCHED_IDLE` for the calling thread. Failing to lower it only costs speed.
fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; param is a valid sched_param.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

/// The store's journal left by a runner that did not finish, imported into `store`.
pub fn recover(store: &Store) -> Result<Option<String>, StoreError> {
    let Some(imp) = store.import_journal()? else {
        return Ok(None);
    };
    let mut note = if imp.imported == 0 {
        format!(
            "the journal of a session that ended without closing had nothing the store lacked ({} attempt(s), all stored already)",
            imp.present
        )
    } else {
        format!(
            "the journal of a session that ended without closing held {} attempt(s) not yet in the store; imported{}",
            imp.imported,
            if imp.present > 0 {
                format!(" ({} more were already there)", imp.present)
            } else {
                String::new()
            }
        )
    };
    if imp.torn {
        note.push_str("; its last line was cut short by the stop, so that trial runs again");
    }
    if let Some(kept) = &imp.kept_at {
        let (line, why) = &imp.unreadable[0];
        let at = if *line > 0 {
            format!("line {line}: ")
        } else {
            String::new()
        };
        note.push_str(&format!(
            "; {} of its attempts could not be read or stored ({at}{why}), so their trials run again and the journal is kept at {}",
            imp.unreadable.len(),
            kept.display()
        ));
    }
    Ok(Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_recover_without_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(recover(&store).unwrap(), None);
    }

    #[test]
    fn attempts_are_journalled_then_stored_and_the_journal_goes_at_the_end() {
        let (_dir, path, store, run, session) = crate::store::tests::a_store();
        let journal = crate::store::journal::path_of(&path);

        let mut w = Writer::start(Store::open(&path).unwrap()).unwrap();
        for i in 0..5 {
            w.record(crate::store::tests::an_attempt(run, session, i))
                .unwrap();
        }
        // Journalled at once, whatever the writer thread has done yet.
        let replay = crate::store::journal::read(&path).unwrap().unwrap();
        assert_eq!(replay.attempts.len(), 5);
        w.flush().unwrap();
        assert_eq!(store.attempts(run).unwrap().len(), 5);
        w.finish().unwrap();
        assert!(!journal.exists());

        // A writer dropped without finishing (the run failed) leaves its journal; the
        // next runner finds every attempt in it already stored.
        let mut w = Writer::start(Store::open(&path).unwrap()).unwrap();
        w.record(crate::store::tests::an_attempt(run, session, 5))
            .unwrap();
        drop(w);
        assert!(journal.exists());
        let note = recover(&store).unwrap().unwrap();
        assert!(
            note.contains("nothing the store lacked (1 attempt(s), all stored already)"),
            "{note}"
        );
        assert_eq!(store.attempts(run).unwrap().len(), 6);
    }
}
