//! The results store: one SQLite file per experiment. The runner journals each attempt
//! (`journal`) and stores attempts in batches.
//!
//! WAL journal with `synchronous = NORMAL`: a committed trial survives the runner being
//! killed (even with -9) or the disk filling up; only an operating-system crash can lose the
//! last few commits. Every attempt of every trial is kept, failed ones included, so the
//! store is the complete record of what ran.

pub mod journal;

use crate::plan::{Cell, Phase, TrialKey};
use crate::trial::MetricValue;
pub use crate::trial::{LogRange, TrialStatus};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: i64 = 5;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,              -- running | complete | incomplete | interrupted
    seed INTEGER NOT NULL,
    file_path TEXT NOT NULL,
    file_text TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    experiment_sha256 TEXT NOT NULL,   -- hash of the parsed experiment: comments do not change it
    experiment_json TEXT NOT NULL,
    planned_trials INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES run(id),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    rigor_version TEXT NOT NULL,
    command_line TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    experiment_sha256 TEXT NOT NULL,
    environment TEXT NOT NULL          -- JSON: where this session ran
);
CREATE TABLE IF NOT EXISTS cell (
    run_id INTEGER NOT NULL REFERENCES run(id),
    key TEXT NOT NULL,
    variant TEXT NOT NULL,
    workload TEXT NOT NULL,
    params TEXT NOT NULL,              -- JSON object: every parameter value
    sweep TEXT NOT NULL,               -- JSON object: the workload's sweep point
    position INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS trial (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES run(id),
    session_id INTEGER NOT NULL REFERENCES session(id),
    cell_key TEXT NOT NULL,
    phase TEXT NOT NULL,               -- warmup | measure | isolation (alone, for the isolation check)
    idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,              -- position in the planned order
    attempt INTEGER NOT NULL,          -- 1-based
    final INTEGER NOT NULL,            -- 1: no further attempt will be made
    status TEXT NOT NULL,              -- ok | failed | timeout
    reason TEXT,
    exit_code INTEGER,
    signal INTEGER,
    started_at TEXT NOT NULL,
    wall_s REAL,
    argv TEXT NOT NULL,                -- JSON array
    env TEXT NOT NULL,                 -- JSON object: variables rigor added
    workdir TEXT NOT NULL,
    stdout_log TEXT,                   -- the run's stdout log; this trial's part is
    stdout_offset INTEGER,             --   bytes [offset, offset + len)
    stdout_len INTEGER,
    stderr_log TEXT,
    stderr_offset INTEGER,
    stderr_len INTEGER,
    notes TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    flags TEXT NOT NULL DEFAULT '[]',  -- JSON array: "kind: text" validity flags (throttle, foreign-process)
    telemetry TEXT,                    -- JSON: sampled GPUs, GPU processes, unavailable readings
    lane INTEGER,                      -- the lane it ran on, 0-based; NULL without lanes
    lane_device TEXT,                  -- what the lane is: "gpu 1 (GPU-…)", "cpus 8-15"
    UNIQUE (run_id, cell_key, phase, idx, attempt)
);
CREATE TABLE IF NOT EXISTS metric (
    trial_id INTEGER NOT NULL REFERENCES trial(id),
    name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT,
    better TEXT,
    n_samples INTEGER NOT NULL,
    PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sample (
    trial_id INTEGER NOT NULL REFERENCES trial(id),
    metric TEXT NOT NULL,
    idx INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (trial_id, metric, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (    -- telemetry time series of a trial
    trial_id INTEGER NOT NULL REFERENCES trial(id),
    name TEXT NOT NULL,                -- e.g. gpu0.power_w, host.net_rx_bytes
    unit TEXT NOT NULL,
    kind TEXT NOT NULL,                -- gauge | counter | bits
    t BLOB NOT NULL,                   -- little-endian f64 seconds from the trial's first sample
    v BLOB NOT NULL,                   -- little-endian f64 values
    PRIMARY KEY (trial_id, name)
);
CREATE TABLE IF NOT EXISTS request (   -- llm-serve: every request of a trial, as the client saw it
    trial_id INTEGER NOT NULL REFERENCES trial(id),
    idx INTEGER NOT NULL,
    warmup INTEGER NOT NULL,
    scheduled_s REAL NOT NULL,         -- seconds from the start of the trial's load
    sent_s REAL NOT NULL,
    first_token_s REAL,
    end_s REAL NOT NULL,
    chunks_s BLOB NOT NULL,            -- little-endian f64 arrival times of content chunks
    input_tokens INTEGER,
    output_tokens INTEGER,
    status INTEGER,                    -- HTTP status
    error TEXT,                        -- NULL: ok; else connect | send | http | timeout | stalled | stream | body | empty | cancelled
    message TEXT,
    detail TEXT,                       -- JSON: retries, first_sent_s, connect_ms, first_event_s, finish_reason, notes, tokens_from,
                                       --   first_reasoning_s, first_answer_s, reasoning_chunks, reasoning_tokens,
                                       --   conversation, turn (multi-turn loads)
    PRIMARY KEY (trial_id, idx)
);
CREATE TABLE IF NOT EXISTS missing_metric (
    trial_id INTEGER NOT NULL REFERENCES trial(id),
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;
"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot merge {path}: {detail}")]
    Mismatch { path: PathBuf, detail: String },
    #[error("cannot create the results directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("cannot open the results store {path}: {error}")]
    Open {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error(
        "the results store {path} was written by a newer rigor (schema {found}, this rigor knows {SCHEMA_VERSION}); use a newer rigor or another --store"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("results store {path}: {error}")]
    Sql {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("{0}")]
    Other(String),
}

/// What [`Store::import_journal`] found in a journal an earlier runner left behind.
#[derive(Debug, Default, PartialEq)]
pub struct JournalImport {
    /// Attempts the store did not have yet, now stored.
    pub imported: usize,
    /// Attempts it already had (stored before the runner stopped).
    pub present: usize,
    /// The last line was cut short: that attempt's trial runs again.
    pub torn: bool,
    /// Lines that could not be read, and where the journal was kept for a person to see.
    pub unreadable: Vec<(usize, String)>,
    pub kept_at: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub experiment: String,
    pub created_at: String,
    pub status: String,
    pub seed: u64,
    pub file_path: String,
    pub file_text: String,
    pub file_sha256: String,
    pub experiment_sha256: String,
    pub experiment_json: String,
    pub planned_trials: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub id: i64,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub rigor_version: String,
    pub command_line: String,
    pub environment: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredMetric {
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
    pub better: Option<String>,
    pub n_samples: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: i64,
    /// The session that ran it: where (its environment's host) and when.
    pub session_id: i64,
    pub cell_key: String,
    pub phase: Phase,
    pub index: u32,
    pub seq: u64,
    pub attempt: u32,
    pub is_final: bool,
    pub status: TrialStatus,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub started_at: String,
    pub wall_s: Option<f64>,
    pub argv: Vec<String>,
    pub stdout_log: Option<LogRange>,
    pub stderr_log: Option<LogRange>,
    pub notes: Vec<String>,
    pub flags: Vec<String>,
    pub metrics: Vec<StoredMetric>,
    pub missing: Vec<(String, String)>,
    /// The lane it ran on; `None` without lanes.
    pub lane: Option<u32>,
    pub lane_device: Option<String>,
}

/// Everything about one run, as the analysis needs it.
#[derive(Debug, Clone, Serialize)]
pub struct RunData {
    pub run: RunRow,
    pub sessions: Vec<SessionRow>,
    pub cells: Vec<Cell>,
    pub trials: Vec<TrialRow>,
}

/// What the runner records for one attempt of one trial. Owned and serializable: the
/// runner's journal (`journal.rs`) keeps it as one JSON line until the store has it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AttemptRecord {
    pub run_id: i64,
    pub session_id: i64,
    pub key: TrialKey,
    pub seq: usize,
    pub attempt: u32,
    pub is_final: bool,
    pub status: TrialStatus,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub started_at: String,
    pub wall_s: Option<f64>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    pub stdout_log: Option<LogRange>,
    pub stderr_log: Option<LogRange>,
    pub notes: Vec<String>,
    /// Validity flags, `kind: text`.
    pub flags: Vec<String>,
    pub metrics: Vec<(String, MetricValue)>,
    pub missing: Vec<(String, String)>,
    /// What was sampled during the trial, series included.
    pub telemetry: Option<crate::trial::Recording>,
    /// llm-serve: every request.
    pub requests: Vec<crate::trial::RequestRecord>,
    /// The lane and what it is, with lanes.
    pub lane: Option<(u32, String)>,
}

pub struct NewRun<'a> {
    pub experiment: &'a str,
    pub seed: u64,
    pub file_path: &'a str,
    pub file_text: &'a str,
    pub file_sha256: &'a str,
    pub experiment_sha256: &'a str,
    pub experiment_json: &'a str,
    pub planned_trials: usize,
}

pub struct NewSession<'a> {
    pub run_id: i64,
    pub rigor_version: &'a str,
    pub command_line: &'a str,
    pub file_sha256: &'a str,
    pub experiment_sha256: &'a str,
    pub environment: &'a serde_json::Value,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// A migrated copy of an older store opened for reading, removed with the Store.
    scratch: Option<PathBuf>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(p) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
}

pub use crate::machine::now_rfc3339;

impl Store {
    /// Opens (creating if needed) a store for reading and reporting.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Dir(dir.to_path_buf(), e))?;
        }
        let conn = Connection::open(path).map_err(|error| StoreError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            scratch: None,
        };
        store.init()?;
        Ok(store)
    }

    /// Opens an existing store without creating anything: a file that is not a rigor
    /// store (empty, not SQLite, or SQLite without rigor's tables) is refused untouched.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Store::check_is_store(path)?;
        Store::open(path)
    }

    /// Refuses, untouched, a path that is not a rigor store.
    fn check_is_store(path: &Path) -> Result<(), StoreError> {
        if !path.is_file() {
            return Err(StoreError::Other(format!(
                "no results store at {}; run the experiment first (`rigor run FILE`) or pass --store",
                path.display()
            )));
        }
        let not_a_store = |why: &str| {
            StoreError::Other(format!(
                "{} is not a rigor results store: {why}; pass the .db file `rigor run` wrote",
                path.display()
            ))
        };
        let mut head = [0u8; 16];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path)
                .map_err(|e| StoreError::Other(format!("cannot read {}: {e}", path.display())))?;
            let n = f.read(&mut head).unwrap_or(0);
            if n == 0 {
                return Err(not_a_store("the file is empty"));
            }
            if n < 16 || &head != b"SQLite format 3\0" {
                return Err(not_a_store("it is not an SQLite database"));
            }
        }
        {
            let ro = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|error| StoreError::Open {
                path: path.to_path_buf(),
                error,
            })?;
            let has_run: i64 = ro
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'run'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|error| StoreError::Open {
                    path: path.to_path_buf(),
                    error,
                })?;
            if has_run == 0 {
                return Err(not_a_store("it has no `run` table"));
            }
        }
        Ok(())
    }

    /// Opens an existing store for reading only (`report`, `plan`, `status`): nothing is
    /// written to it, not even a pragma. A store of an older schema is read through a
    /// migrated copy in the temporary directory.
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        // The checks of open_existing, without its write access.
        Store::check_is_store(path)?;
        let open = |p: &Path| {
            Connection::open_with_flags(
                p,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|error| StoreError::Open {
                path: p.to_path_buf(),
                error,
            })
        };
        let conn = open(path)?;
        let sql = |error| StoreError::Sql {
            path: path.to_path_buf(),
            error,
        };
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
            });
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        if version == SCHEMA_VERSION {
            return Ok(Store {
                conn,
                path: path.to_path_buf(),
                scratch: None,
            });
        }
        // Older: the backup API copies a consistent snapshot (WAL included), which is
        // then migrated.
        let scratch = std::env::temp_dir().join(format!(
            "rigor-read-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        {
            let mut dst = Connection::open(&scratch).map_err(|error| StoreError::Open {
                path: scratch.clone(),
                error,
            })?;
            rusqlite::backup::Backup::new(&conn, &mut dst)
                .and_then(|b| b.run_to_completion(64, std::time::Duration::ZERO, None))
                .map_err(sql)?;
        }
        let mut store = Store::open(&scratch)?;
        store.path = path.to_path_buf();
        store.scratch = Some(scratch);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, StoreError> {
        r.map_err(|error| StoreError::Sql {
            path: self.path.clone(),
            error,
        })
    }

    fn init(&self) -> Result<(), StoreError> {
        let version: i64 =
            self.sql(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        self.sql(self.conn.busy_timeout(std::time::Duration::from_secs(10)))?;
        // Takes effect only when the file is created. Every commit writes each page it
        // touched to the WAL in full, and a trial touches about 3 pages; 1 KiB pages cut the
        // WAL (and the fsync that syncs it at the checkpoint) to a quarter of 4 KiB's.
        self.sql(self.conn.pragma_update(None, "page_size", 1024))?;
        self.sql(self.conn.pragma_update(None, "journal_mode", "WAL"))?;
        self.sql(self.conn.pragma_update(None, "synchronous", "NORMAL"))?;
        // Checkpoints fsync; the default (every 1000 pages, ~250 trials) cost a short trial
        // more than its own commit. Committed trials are durable in the WAL either way.
        self.sql(self.conn.pragma_update(None, "wal_autocheckpoint", 16384))?;
        self.sql(self.conn.pragma_update(None, "foreign_keys", "ON"))?;
        if version == 1 {
            // Schema 1 had no telemetry: add its columns; the new table comes from SCHEMA.
            self.sql(self.conn.execute_batch(
                "ALTER TABLE trial ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
                 ALTER TABLE trial ADD COLUMN telemetry TEXT;",
            ))?;
        }
        if (2..4).contains(&version) {
            // Schemas 2 and 3 kept no per-request detail (retries, notes, connection time).
            self.sql(
                self.conn
                    .execute_batch("ALTER TABLE request ADD COLUMN detail TEXT;"),
            )?;
        }
        if (1..5).contains(&version) {
            // Schemas 1 to 4 ran one trial at a time: no lanes.
            self.sql(self.conn.execute_batch(
                "ALTER TABLE trial ADD COLUMN lane INTEGER;
                 ALTER TABLE trial ADD COLUMN lane_device TEXT;",
            ))?;
        }
        self.sql(self.conn.execute_batch(SCHEMA))?;
        self.sql(
            self.conn
                .pragma_update(None, "user_version", SCHEMA_VERSION),
        )?;
        Ok(())
    }

    /// The most recent run of `experiment` in this store.
    pub fn latest_run(&self, experiment: &str) -> Result<Option<RunRow>, StoreError> {
        let r = self
            .conn
            .query_row(
                "SELECT id FROM run WHERE experiment = ?1 ORDER BY id DESC LIMIT 1",
                [experiment],
                |r| r.get::<_, i64>(0),
            )
            .optional();
        match self.sql(r)? {
            Some(id) => Ok(Some(self.run(id)?)),
            None => Ok(None),
        }
    }

    /// Every run of `experiment`, oldest first.
    pub fn runs_of(&self, experiment: &str) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.sql(
            self.conn
                .prepare("SELECT id FROM run WHERE experiment = ?1 ORDER BY id"),
        )?;
        let rows = self.sql(stmt.query_map([experiment], |r| r.get::<_, i64>(0)))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.sql(r)?);
        }
        Ok(out)
    }

    /// The most recent run of any experiment.
    pub fn last_run_id(&self) -> Result<Option<i64>, StoreError> {
        self.sql(self.conn.query_row("SELECT max(id) FROM run", [], |r| {
            r.get::<_, Option<i64>>(0)
        }))
    }

    pub fn run(&self, id: i64) -> Result<RunRow, StoreError> {
        let r = self
            .conn
            .query_row(
                "SELECT id, experiment, created_at, status, seed, file_path, file_text, file_sha256,
                        experiment_sha256, planned_trials, experiment_json FROM run WHERE id = ?1",
                [id],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        experiment: r.get(1)?,
                        created_at: r.get(2)?,
                        status: r.get(3)?,
                        seed: r.get::<_, i64>(4)? as u64,
                        file_path: r.get(5)?,
                        file_text: r.get(6)?,
                        file_sha256: r.get(7)?,
                        experiment_sha256: r.get(8)?,
                        planned_trials: r.get::<_, i64>(9)? as u64,
                        experiment_json: r.get(10)?,
                    })
                },
            )
            .optional();
        self.sql(r)?
            .ok_or_else(|| StoreError::Other(format!("no run {id} in {}", self.path.display())))
    }

    pub fn create_run(&self, new: &NewRun<'_>, cells: &[Cell]) -> Result<i64, StoreError> {
        let tx = self.sql(self.conn.unchecked_transaction())?;
        self.sql(tx.execute(
            "INSERT INTO run (experiment, created_at, status, seed, file_path, file_text, file_sha256,
                              experiment_sha256, experiment_json, planned_trials)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.experiment,
                now_rfc3339(),
                new.seed as i64,
                new.file_path,
                new.file_text,
                new.file_sha256,
                new.experiment_sha256,
                new.experiment_json,
                new.planned_trials as i64
            ],
        ))?;
        let id = tx.last_insert_rowid();
        self.sql(tx.commit())?;
        self.upsert_cells(id, cells)?;
        Ok(id)
    }

    /// Adopts a changed experiment file for an existing run (resume with `--force`).
    pub fn update_run_file(
        &self,
        run_id: i64,
        new: &NewRun<'_>,
        cells: &[Cell],
    ) -> Result<(), StoreError> {
        self.sql(self.conn.execute(
            "UPDATE run SET file_path = ?2, file_text = ?3, file_sha256 = ?4, experiment_sha256 = ?5,
                            experiment_json = ?6, planned_trials = ?7 WHERE id = ?1",
            params![
                run_id,
                new.file_path,
                new.file_text,
                new.file_sha256,
                new.experiment_sha256,
                new.experiment_json,
                new.planned_trials as i64
            ],
        ))?;
        self.upsert_cells(run_id, cells)
    }

    fn upsert_cells(&self, run_id: i64, cells: &[Cell]) -> Result<(), StoreError> {
        let tx = self.sql(self.conn.unchecked_transaction())?;
        for (pos, c) in cells.iter().enumerate() {
            let params = serde_json::to_string(&c.params).unwrap_or_default();
            let sweep = serde_json::to_string(&c.sweep).unwrap_or_default();
            self.sql(tx.execute(
                "INSERT INTO cell (run_id, key, variant, workload, params, sweep, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (run_id, key) DO UPDATE SET position = excluded.position",
                params![
                    run_id, c.key, c.variant, c.workload, params, sweep, pos as i64
                ],
            ))?;
        }
        self.sql(tx.commit())
    }

    pub fn set_run_status(&self, run_id: i64, status: &str) -> Result<(), StoreError> {
        self.sql(self.conn.execute(
            "UPDATE run SET status = ?2 WHERE id = ?1",
            params![run_id, status],
        ))
        .map(|_| ())
    }

    pub fn start_session(&self, s: &NewSession<'_>) -> Result<i64, StoreError> {
        self.sql(self.conn.execute(
            "INSERT INTO session (run_id, started_at, status, rigor_version, command_line, file_sha256,
                                  experiment_sha256, environment)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7)",
            params![
                s.run_id,
                now_rfc3339(),
                s.rigor_version,
                s.command_line,
                s.file_sha256,
                s.experiment_sha256,
                s.environment.to_string()
            ],
        ))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Sessions and runs still marked `running` although no runner holds the store's lock
    /// (the caller holds it): their runner died (kill -9, a full disk, a lost node). They
    /// become `died` and `interrupted`; returns how many sessions were.
    pub fn close_abandoned(&self) -> Result<usize, StoreError> {
        let n = self.sql(self.conn.execute(
            "UPDATE session SET status = 'died', ended_at = COALESCE(ended_at, ?1) WHERE status = 'running'",
            [now_rfc3339()],
        ))?;
        self.sql(self.conn.execute(
            "UPDATE run SET status = 'interrupted' WHERE status = 'running'",
            [],
        ))?;
        Ok(n)
    }

    pub fn end_session(&self, session_id: i64, status: &str) -> Result<(), StoreError> {
        self.sql(self.conn.execute(
            "UPDATE session SET ended_at = ?2, status = ?3 WHERE id = ?1",
            params![session_id, now_rfc3339(), status],
        ))
        .map(|_| ())
    }

    /// For each trial with at least one attempt: (attempts made, whether it is finished).
    pub fn attempts(&self, run_id: i64) -> Result<HashMap<TrialKey, (u32, bool)>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT cell_key, phase, idx, max(attempt), max(final) FROM trial WHERE run_id = ?1
             GROUP BY cell_key, phase, idx",
        ))?;
        let rows = self.sql(stmt.query_map([run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        }))?;
        let mut out = HashMap::new();
        for row in rows {
            let (cell, phase, idx, attempts, fin) = self.sql(row)?;
            let Some(phase) = Phase::parse(&phase) else {
                continue;
            };
            out.insert(
                TrialKey {
                    cell,
                    phase,
                    index: idx as u32,
                },
                (attempts as u32, fin != 0),
            );
        }
        Ok(out)
    }

    /// Wall times of finished, successful trials of every run of `experiment`, by cell key:
    /// the history that `rigor plan` estimates durations from.
    pub fn wall_history(&self, experiment: &str) -> Result<HashMap<String, Vec<f64>>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT t.cell_key, t.wall_s FROM trial t JOIN run r ON r.id = t.run_id
             WHERE r.experiment = ?1 AND t.status = 'ok' AND t.wall_s IS NOT NULL",
        ))?;
        let rows = self.sql(stmt.query_map([experiment], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
        }))?;
        let mut out: HashMap<String, Vec<f64>> = HashMap::new();
        for row in rows {
            let (k, w) = self.sql(row)?;
            out.entry(k).or_default().push(w);
        }
        Ok(out)
    }

    /// Commits one attempt with its metrics in a single transaction: all of it or none.
    /// Stores what a runner that did not finish (killed, or stopped by a full disk) left in
    /// the store's journal, then removes the journal; `None` when there was none. Only the
    /// runner holding the store's lock may call this.
    pub fn import_journal(&self) -> Result<Option<JournalImport>, StoreError> {
        let Some(replay) = journal::read(&self.path)? else {
            let path = journal::path_of(&self.path);
            // An empty journal: a runner stopped before its first attempt.
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(|error| journal::JournalError { path, error })?;
            }
            return Ok(None);
        };
        let mut unreadable = replay.unreadable;
        // One transaction; should it fail, one attempt at a time, so that one attempt the
        // store refuses cannot keep every other one out of it run after run.
        let ids = match self.record_attempts(&replay.attempts) {
            Ok(ids) => ids,
            Err(batch) => {
                let mut ids = Vec::new();
                for a in &replay.attempts {
                    match self.record_attempt(a) {
                        Ok(id) => ids.push(id),
                        Err(e) => unreadable.push((
                            0,
                            format!("trial {} attempt {}: {e}", a.key.cell, a.attempt),
                        )),
                    }
                }
                // Nothing stored at all: the store itself fails (a full disk, read-only);
                // the journal stays as it is for the next try.
                if ids.is_empty() {
                    return Err(batch);
                }
                ids
            }
        };
        let imported = ids.iter().filter(|id| id.is_some()).count();
        let present = ids.len() - imported;
        let path = journal::path_of(&self.path);
        let kept_at = if unreadable.is_empty() {
            std::fs::remove_file(&path).map_err(|error| journal::JournalError {
                path: path.clone(),
                error,
            })?;
            None
        } else {
            let mut kept = path.clone().into_os_string();
            kept.push(format!(".unreadable-{}", std::process::id()));
            let kept = PathBuf::from(kept);
            std::fs::rename(&path, &kept).map_err(|error| journal::JournalError { path, error })?;
            Some(kept)
        };
        Ok(Some(JournalImport {
            imported,
            present,
            torn: replay.torn,
            unreadable,
            kept_at,
        }))
    }

    /// Attempts in the store's journal that the store does not have: a runner is about to
    /// store them, or one stopped without closing and the next will import them.
    pub fn unimported(&self) -> Result<usize, StoreError> {
        let Some(replay) = journal::read(&self.path)? else {
            return Ok(0);
        };
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT count(*) FROM trial WHERE run_id = ?1 AND cell_key = ?2 AND phase = ?3 AND idx = ?4 AND attempt = ?5",
        ))?;
        let mut missing = 0;
        for a in &replay.attempts {
            let n: i64 = self.sql(stmt.query_row(
                params![
                    a.run_id,
                    a.key.cell,
                    a.key.phase.as_str(),
                    a.key.index,
                    a.attempt
                ],
                |r| r.get(0),
            ))?;
            missing += usize::from(n == 0);
        }
        Ok(missing)
    }

    /// Checkpoints the WAL into the database at SQLite's default pace (every 1,000 pages),
    /// for a connection whose commits are off every trial's path (the runner's writer
    /// thread): what it checkpoints as it goes, the last close no longer has to.
    pub fn checkpoint_often(&self) -> Result<(), StoreError> {
        self.sql(self.conn.pragma_update(None, "wal_autocheckpoint", 1000))
    }

    /// Stores one attempt; its id, or `None` when the store already had it.
    pub fn record_attempt(&self, a: &AttemptRecord) -> Result<Option<i64>, StoreError> {
        self.record_attempts(std::slice::from_ref(a))
            .map(|ids| ids.into_iter().next().flatten())
    }

    /// Stores attempts in one transaction: all of them, or none (a full disk). An attempt
    /// the store already has (the same trial and attempt number of the same run) is
    /// skipped, so that a journal replayed after a crash adds each attempt once; its id is
    /// `None`.
    pub fn record_attempts(&self, batch: &[AttemptRecord]) -> Result<Vec<Option<i64>>, StoreError> {
        // BEGIN and COMMIT go through cached statements: rusqlite's Transaction parses them
        // anew each time, which was a tenth of a short trial's bookkeeping.
        let exec = |sql: &str| {
            self.sql(
                self.conn
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute([])),
            )
        };
        exec("BEGIN")?;
        // A failed insert or COMMIT (a full disk) must not leave the transaction open.
        match batch
            .iter()
            .map(|a| self.insert_attempt(a))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|ids| exec("COMMIT").map(|_| ids))
        {
            Ok(ids) => Ok(ids),
            Err(e) => {
                let _ = exec("ROLLBACK");
                Err(e)
            }
        }
    }

    fn insert_attempt(&self, a: &AttemptRecord) -> Result<Option<i64>, StoreError> {
        // Runs inside record_attempt's transaction.
        let tx = &self.conn;
        let env: serde_json::Map<String, serde_json::Value> = a
            .env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let inserted = self.sql(
            tx.prepare_cached(
                "INSERT INTO trial (run_id, session_id, cell_key, phase, idx, seq, attempt, final, status,
                                reason, exit_code, signal, started_at, wall_s, argv, env, workdir,
                                stdout_log, stdout_offset, stdout_len, stderr_log, stderr_offset, stderr_len, notes,
                                flags, telemetry, lane, lane_device)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                     ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
             ON CONFLICT (run_id, cell_key, phase, idx, attempt) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.run_id,
                    a.session_id,
                    a.key.cell,
                    a.key.phase.as_str(),
                    a.key.index as i64,
                    a.seq as i64,
                    a.attempt as i64,
                    a.is_final as i64,
                    a.status.as_str(),
                    a.reason.as_deref(),
                    a.exit_code,
                    a.signal,
                    a.started_at,
                    a.wall_s,
                    serde_json::to_string(&a.argv).unwrap_or_default(),
                    serde_json::Value::Object(env).to_string(),
                    a.workdir.display().to_string(),
                    a.stdout_log.as_ref().map(|l| l.path.as_str()),
                    a.stdout_log.as_ref().map(|l| l.offset as i64),
                    a.stdout_log.as_ref().map(|l| l.len as i64),
                    a.stderr_log.as_ref().map(|l| l.path.as_str()),
                    a.stderr_log.as_ref().map(|l| l.offset as i64),
                    a.stderr_log.as_ref().map(|l| l.len as i64),
                    serde_json::to_string(&a.notes).unwrap_or_default(),
                    serde_json::to_string(&a.flags).unwrap_or_default(),
                    a.telemetry.as_ref().map(telemetry_json),
                    a.lane.as_ref().map(|l| l.0 as i64),
                    a.lane.as_ref().map(|l| l.1.as_str()),
                ])
            }),
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let trial_id = tx.last_insert_rowid();
        {
            let mut m = self.sql(tx.prepare_cached(
                "INSERT INTO metric (trial_id, name, value, unit, better, n_samples) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            ))?;
            let mut s = self.sql(tx.prepare_cached(
                "INSERT INTO sample (trial_id, metric, idx, value) VALUES (?1, ?2, ?3, ?4)",
            ))?;
            for (name, v) in &a.metrics {
                let n = v.samples.len().max(1) as i64;
                self.sql(m.execute(params![
                    trial_id,
                    name,
                    v.value,
                    v.unit,
                    v.better.map(|b| b.to_string()),
                    n
                ]))?;
                for (i, x) in v.samples.iter().enumerate() {
                    self.sql(s.execute(params![trial_id, name, i as i64, x]))?;
                }
            }
            let mut mm = self.sql(tx.prepare_cached(
                "INSERT INTO missing_metric (trial_id, name, reason) VALUES (?1, ?2, ?3)",
            ))?;
            for (name, reason) in &a.missing {
                self.sql(mm.execute(params![trial_id, name, reason]))?;
            }
            if !a.requests.is_empty() {
                let mut rq = self.sql(tx.prepare_cached(
                    "INSERT INTO request (trial_id, idx, warmup, scheduled_s, sent_s, first_token_s, end_s, chunks_s,
                                          input_tokens, output_tokens, status, error, message, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                ))?;
                for r in &a.requests {
                    self.sql(rq.execute(params![
                        trial_id,
                        r.index as i64,
                        r.warmup as i64,
                        r.scheduled_s,
                        r.sent_s,
                        r.first_token_s,
                        r.end_s,
                        f64_blob(&r.chunks_s),
                        r.input_tokens.map(|x| x as i64),
                        r.output_tokens.map(|x| x as i64),
                        r.status,
                        r.error,
                        r.message,
                        request_detail(r),
                    ]))?;
                }
            }
            if let Some(rec) = &a.telemetry {
                let mut st = self.sql(tx.prepare_cached(
                    "INSERT INTO series (trial_id, name, unit, kind, t, v) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                ))?;
                for (name, series) in &rec.series {
                    self.sql(st.execute(params![
                        trial_id,
                        name,
                        series.unit,
                        serde_json::to_value(series.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string)),
                        f64_blob(&series.t),
                        f64_blob(&series.v),
                    ]))?;
                }
            }
        }
        Ok(Some(trial_id))
    }

    /// The measurement windows a trial marked (none for a trial without telemetry, or
    /// from a store written before windows existed).
    pub fn windows(&self, trial_id: i64) -> Result<Vec<crate::trial::WindowSpan>, StoreError> {
        let json: Option<String> = self.sql(self.conn.query_row(
            "SELECT telemetry FROM trial WHERE id = ?1",
            [trial_id],
            |r| r.get(0),
        ))?;
        Ok(json
            .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            .and_then(|v| serde_json::from_value(v.get("windows")?.clone()).ok())
            .unwrap_or_default())
    }

    /// A trial's telemetry series.
    pub fn series(
        &self,
        trial_id: i64,
    ) -> Result<std::collections::BTreeMap<String, crate::trial::Series>, StoreError> {
        let mut stmt = self.sql(
            self.conn
                .prepare("SELECT name, unit, kind, t, v FROM series WHERE trial_id = ?1"),
        )?;
        let rows = self.sql(stmt.query_map([trial_id], |r| {
            let kind: String = r.get(2)?;
            Ok((
                r.get::<_, String>(0)?,
                crate::trial::Series {
                    unit: r.get(1)?,
                    kind: serde_json::from_value(serde_json::Value::String(kind))
                        .unwrap_or(crate::trial::Kind::Gauge),
                    t: blob_f64(&r.get::<_, Vec<u8>>(3)?),
                    v: blob_f64(&r.get::<_, Vec<u8>>(4)?),
                },
            ))
        }))?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (name, s) = self.sql(row)?;
            out.insert(name, s);
        }
        Ok(out)
    }

    /// A trial's measured, successful requests: time to first token and the gaps between
    /// content chunks (inter-token latencies), in ms.
    pub fn request_latencies_ms(&self, trial_id: i64) -> Result<(Vec<f64>, Vec<f64>), StoreError> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT sent_s, first_token_s, chunks_s FROM request
             WHERE trial_id = ?1 AND warmup = 0 AND error IS NULL AND first_token_s IS NOT NULL",
        ))?;
        let rows = self.sql(stmt.query_map([trial_id], |r| {
            Ok((
                r.get::<_, f64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        }))?;
        let (mut ttft, mut itl) = (Vec::new(), Vec::new());
        for row in rows {
            let (sent, first, chunks) = self.sql(row)?;
            ttft.push((first - sent) * 1e3);
            itl.extend(blob_f64(&chunks).windows(2).map(|w| (w[1] - w[0]) * 1e3));
        }
        Ok((ttft, itl))
    }

    /// Everything recorded for a run.
    pub fn load(&self, run_id: i64) -> Result<RunData, StoreError> {
        let run = self.run(run_id)?;
        let mut sessions = Vec::new();
        {
            let mut stmt = self.sql(self.conn.prepare(
                "SELECT id, started_at, ended_at, status, rigor_version, command_line, environment
                 FROM session WHERE run_id = ?1 ORDER BY id",
            ))?;
            let rows = self.sql(stmt.query_map([run_id], |r| {
                Ok(SessionRow {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    ended_at: r.get(2)?,
                    status: r.get(3)?,
                    rigor_version: r.get(4)?,
                    command_line: r.get(5)?,
                    environment: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                })
            }))?;
            for row in rows {
                sessions.push(self.sql(row)?);
            }
        }
        let mut cells = Vec::new();
        {
            let mut stmt = self.sql(self.conn.prepare(
                "SELECT key, variant, workload, params, sweep FROM cell WHERE run_id = ?1 ORDER BY position",
            ))?;
            let rows = self.sql(stmt.query_map([run_id], |r| {
                Ok(Cell {
                    key: r.get(0)?,
                    variant: r.get(1)?,
                    workload: r.get(2)?,
                    params: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                    sweep: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                })
            }))?;
            for row in rows {
                cells.push(self.sql(row)?);
            }
        }
        let mut trials = Vec::new();
        let mut by_id = HashMap::new();
        {
            let mut stmt = self.sql(self.conn.prepare(
                "SELECT id, cell_key, phase, idx, seq, attempt, final, status, reason, exit_code, started_at,
                        wall_s, argv, stdout_log, stdout_offset, stdout_len, stderr_log, stderr_offset, stderr_len, notes,
                        flags, lane, lane_device, session_id
                 FROM trial WHERE run_id = ?1",
            ))?;
            let rows = self.sql(stmt.query_map([run_id], |r| {
                Ok(TrialRow {
                    id: r.get(0)?,
                    cell_key: r.get(1)?,
                    phase: Phase::parse(&r.get::<_, String>(2)?).unwrap_or(Phase::Measure),
                    index: r.get::<_, i64>(3)? as u32,
                    seq: r.get::<_, i64>(4)? as u64,
                    attempt: r.get::<_, i64>(5)? as u32,
                    is_final: r.get::<_, i64>(6)? != 0,
                    status: TrialStatus::parse(&r.get::<_, String>(7)?),
                    reason: r.get(8)?,
                    exit_code: r.get(9)?,
                    started_at: r.get(10)?,
                    wall_s: r.get(11)?,
                    argv: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
                    stdout_log: log_range(r, 13)?,
                    stderr_log: log_range(r, 16)?,
                    notes: serde_json::from_str(&r.get::<_, String>(19)?).unwrap_or_default(),
                    flags: serde_json::from_str(&r.get::<_, String>(20)?).unwrap_or_default(),
                    metrics: Vec::new(),
                    missing: Vec::new(),
                    lane: r.get::<_, Option<i64>>(21)?.map(|l| l as u32),
                    lane_device: r.get(22)?,
                    session_id: r.get(23)?,
                })
            }))?;
            for row in rows {
                let t = self.sql(row)?;
                by_id.insert(t.id, trials.len());
                trials.push(t);
            }
        }
        {
            let mut stmt = self.sql(self.conn.prepare(
                "SELECT m.trial_id, m.name, m.value, m.unit, m.better, m.n_samples FROM metric m
                 JOIN trial t ON t.id = m.trial_id WHERE t.run_id = ?1",
            ))?;
            let rows = self.sql(stmt.query_map([run_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    StoredMetric {
                        name: r.get(1)?,
                        value: r.get(2)?,
                        unit: r.get(3)?,
                        better: r.get(4)?,
                        n_samples: r.get::<_, i64>(5)? as u32,
                    },
                ))
            }))?;
            for row in rows {
                let (tid, m) = self.sql(row)?;
                if let Some(&i) = by_id.get(&tid) {
                    trials[i].metrics.push(m);
                }
            }
            let mut stmt = self.sql(self.conn.prepare(
                "SELECT m.trial_id, m.name, m.reason FROM missing_metric m
                 JOIN trial t ON t.id = m.trial_id WHERE t.run_id = ?1",
            ))?;
            let rows = self.sql(stmt.query_map([run_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            }))?;
            for row in rows {
                let (tid, name, reason) = self.sql(row)?;
                if let Some(&i) = by_id.get(&tid) {
                    trials[i].missing.push((name, reason));
                }
            }
        }
        // Ordered here rather than by SQL: a temporary B-tree per query cost a report of
        // 2,000 trials about 20 ms, more than the rows themselves.
        trials.sort_by_key(|t| (t.seq, t.attempt, t.id));
        for t in &mut trials {
            t.metrics.sort_by(|a, b| a.name.cmp(&b.name));
            t.missing.sort_by(|a, b| a.0.cmp(&b.0));
        }
        derive(&run.experiment_json, &mut trials);
        Ok(RunData {
            run,
            sessions,
            cells,
            trials,
        })
    }
}

/// Adds the experiment's `[[derived]]` metrics to every successful trial, from its own
/// metrics: a value, or missing with the reason (an operand missing, a division by zero).
/// Done as the store is read, so that every report and the adaptive rule see them, and a
/// `[[derived]]` added after the run applies to the trials already measured.
fn derive(experiment_json: &str, trials: &mut [TrialRow]) {
    let derived: Vec<crate::define::derived::Derived> =
        serde_json::from_str::<serde_json::Value>(experiment_json)
            .ok()
            .and_then(|v| serde_json::from_value(v.get("derived")?.clone()).ok())
            .unwrap_or_default();
    if derived.is_empty() {
        return;
    }
    for t in trials.iter_mut().filter(|t| t.status == TrialStatus::Ok) {
        let get = |name: &str| -> Result<f64, String> {
            if let Some(m) = t.metrics.iter().find(|m| m.name == name) {
                return Ok(m.value);
            }
            match t.missing.iter().find(|m| m.0 == name) {
                Some((_, why)) => Err(format!("`{name}` is missing: {why}")),
                None => Err(format!("this trial has no metric `{name}`")),
            }
        };
        let values = crate::define::derived::evaluate(&derived, &get);
        for (d, (name, value)) in derived.iter().zip(values) {
            // A name the trial already reports (a JSON-line metric the file did not
            // declare): two values under one name would count twice.
            if t.metrics.iter().any(|m| m.name == name) {
                t.missing.push((
                    name.clone(),
                    format!("`[[derived]] {name}` is not computed: the trial already reports a metric of that name; give the derived metric another"),
                ));
                continue;
            }
            match value {
                Ok(value) => t.metrics.push(StoredMetric {
                    name,
                    value,
                    unit: d.unit.clone(),
                    better: Some(d.better.to_string()),
                    n_samples: 1,
                }),
                Err(why) => t.missing.push((name, why)),
            }
        }
    }
}

/// What a request record holds beyond the table's columns, as JSON; None when it is all
/// defaults.
fn request_detail(r: &crate::trial::RequestRecord) -> Option<String> {
    let mut m = serde_json::Map::new();
    if r.retries > 0 {
        m.insert("retries".into(), r.retries.into());
    }
    let mut put = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("first_sent_s", r.first_sent_s.map(Into::into));
    put("connect_ms", r.connect_ms.map(Into::into));
    put("first_event_s", r.first_event_s.map(Into::into));
    put("finish_reason", r.finish_reason.clone().map(Into::into));
    put("first_reasoning_s", r.first_reasoning_s.map(Into::into));
    put("first_answer_s", r.first_answer_s.map(Into::into));
    put(
        "reasoning_chunks",
        (r.reasoning_chunks > 0).then(|| r.reasoning_chunks.into()),
    );
    put("reasoning_tokens", r.reasoning_tokens.map(Into::into));
    put("cached_tokens", r.cached_tokens.map(Into::into));
    put("tokens_from", r.tokens_from.clone().map(Into::into));
    put("conversation", r.conversation.map(Into::into));
    put("turn", r.turn.map(Into::into));
    if !r.notes.is_empty() {
        m.insert("notes".into(), r.notes.clone().into());
    }
    (!m.is_empty()).then(|| serde_json::Value::Object(m).to_string())
}

fn f64_blob(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_f64(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

/// The recording without its series (those go to their own table).
fn telemetry_json(rec: &crate::trial::Recording) -> String {
    let mut v = serde_json::json!({
        "interval_ms": rec.interval_ms,
        "ticks": rec.ticks,
        "max_gap_ms": rec.max_gap_ms,
        "gap_ms_median": rec.gap_ms_median,
        "gap_ms_p99": rec.gap_ms_p99,
        "slow_ticks": rec.slow_ticks,
        "slow_max_gap_ms": rec.slow_max_gap_ms,
        "sample_ms_mean": rec.sample_ms_mean,
        "sample_ms_max": rec.sample_ms_max,
        "cost_ms": rec.cost_ms,
        "gpus": rec.gpus,
        "processes": rec.processes,
        "unavailable": rec.unavailable,
        "gpu_unavailable": rec.gpu_unavailable,
    });
    if !rec.windows.is_empty() {
        v["windows"] = serde_json::json!(rec.windows);
    }
    v.to_string()
}

fn log_range(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<LogRange>> {
    let path: Option<String> = r.get(i)?;
    let offset: Option<i64> = r.get(i + 1)?;
    let len: Option<i64> = r.get(i + 2)?;
    Ok(match (path, offset, len) {
        (Some(path), Some(o), Some(l)) => Some(LogRange {
            path,
            offset: o as u64,
            len: l as u64,
        }),
        _ => None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fresh store in a temporary directory, with a run of one cell and a session:
    /// (directory, store path, store, run, session).
    pub(crate) fn a_store() -> (tempfile::TempDir, PathBuf, Store, i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let run = a_run(&store);
        let session = a_session(&store, run);
        (dir, path, store, run, session)
    }

    /// A loaded run's record, for analyses of hand-made trials.
    pub(crate) fn a_run_row(experiment_json: &str, planned_trials: u64) -> RunRow {
        RunRow {
            id: 1,
            experiment: "e".into(),
            created_at: String::new(),
            status: "complete".into(),
            seed: 0,
            file_path: String::new(),
            file_text: String::new(),
            file_sha256: String::new(),
            experiment_sha256: String::new(),
            experiment_json: experiment_json.into(),
            planned_trials,
        }
    }

    /// A run of one cell (`a/w`) in `store`.
    pub(crate) fn a_run(store: &Store) -> i64 {
        store.create_run(&new_run(), &[cell()]).unwrap()
    }

    /// A successful first attempt of trial `index` of cell `a/w`.
    pub(crate) fn an_attempt(run_id: i64, session_id: i64, index: u32) -> AttemptRecord {
        AttemptRecord {
            run_id,
            session_id,
            key: TrialKey {
                cell: "a/w".into(),
                phase: Phase::Measure,
                index,
            },
            seq: index as usize,
            attempt: 1,
            is_final: true,
            status: TrialStatus::Ok,
            reason: None,
            exit_code: Some(0),
            signal: None,
            started_at: "2026-12-01T00:00:00Z".into(),
            wall_s: Some(0.5),
            argv: vec!["true".into()],
            env: Vec::new(),
            workdir: PathBuf::from("."),
            stdout_log: None,
            stderr_log: None,
            notes: Vec::new(),
            flags: Vec::new(),
            metrics: Vec::new(),
            missing: Vec::new(),
            telemetry: None,
            requests: Vec::new(),
            lane: None,
        }
    }

    pub(crate) fn a_session(store: &Store, run: i64) -> i64 {
        store
            .start_session(&NewSession {
                run_id: run,
                rigor_version: "0",
                command_line: "rigor run",
                file_sha256: "f",
                experiment_sha256: "x",
                environment: &serde_json::json!({"host": "h"}),
            })
            .unwrap()
    }

    fn cell() -> Cell {
        Cell {
            key: "a/w".into(),
            variant: "a".into(),
            workload: "w".into(),
            params: BTreeMap::new(),
            sweep: BTreeMap::new(),
        }
    }

    fn new_run() -> NewRun<'static> {
        NewRun {
            experiment: "e",
            seed: 1,
            file_path: "e.toml",
            file_text: "",
            file_sha256: "f",
            experiment_sha256: "x",
            experiment_json: "{}",
            planned_trials: 2,
        }
    }

    #[test]
    fn an_attempt_round_trips_with_its_metrics_samples_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = a_run(&store);
        let env = serde_json::json!({"host": "h"});
        let session = a_session(&store, run);
        let metrics = vec![(
            "lat".to_string(),
            MetricValue {
                value: 2.0,
                unit: Some("ms".into()),
                better: Some(crate::define::config::Better::Lower),
                samples: vec![1.0, 3.0],
            },
        )];
        let missing = vec![("tok".to_string(), "not reported".to_string())];
        let mut rec = crate::trial::Recording::default();
        let mut power = crate::trial::Series::new("W", crate::trial::Kind::Gauge);
        power.push(0.0, 101.5);
        power.push(0.01, 650.25);
        rec.series.insert("gpu0.power_w".into(), power.clone());
        let flags = vec!["throttle: gpu0 slowed".to_string()];
        let attempt = AttemptRecord {
            started_at: "t".into(),
            flags: flags.clone(),
            metrics,
            missing: missing.clone(),
            telemetry: Some(rec),
            lane: Some((1, "cpus 2-3".into())),
            ..an_attempt(run, session, 0)
        };
        let key = attempt.key.clone();
        let trial_id = store.record_attempt(&attempt).unwrap().unwrap();
        // A replayed journal adds nothing the store already has.
        assert_eq!(store.record_attempt(&attempt).unwrap(), None);
        assert_eq!(store.series(trial_id).unwrap()["gpu0.power_w"], power);
        let data = store.load(run).unwrap();
        assert_eq!(data.trials[0].flags, flags);
        assert_eq!(data.trials[0].lane, Some(1));
        assert_eq!(data.trials[0].lane_device.as_deref(), Some("cpus 2-3"));
        assert_eq!(data.trials.len(), 1);
        assert_eq!(data.trials[0].metrics[0].value, 2.0);
        assert_eq!(data.trials[0].metrics[0].n_samples, 2);
        assert_eq!(data.trials[0].missing, missing);
        assert_eq!(data.sessions[0].environment, env);
        assert_eq!(store.attempts(run).unwrap()[&key], (1, true));
    }
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeSummary {
    /// Shards merged (a shard store without a run yet is skipped).
    pub shards: usize,
    /// Attempts copied.
    pub attempts: usize,
    /// Attempts already present under the same (cell, phase, index, attempt): the same
    /// warm-up run by several shards, or a shard merged twice.
    pub duplicates: usize,
    /// Measured trials the file plans (`trials` per cell) that no shard has finished.
    pub missing: u64,
    /// Shards whose run is complete.
    pub complete: usize,
}

/// Merges the latest run of every shard store into `out` (created): one run, every session,
/// every attempt once with its metrics, samples, series, requests and missing readings.
/// The shards must come from the same experiment (same experiment hash). The merged run
/// is complete only when all `expected` shards were merged and each is complete; its
/// planned trials are `planned` (the unsharded plan's) when known, else the shards' sum.
pub fn merge(
    shards: &[PathBuf],
    out: &Path,
    expected: usize,
    planned: Option<u64>,
) -> Result<MergeSummary, StoreError> {
    let dest = Store::open(out)?;
    let mut summary = MergeSummary {
        shards: 0,
        attempts: 0,
        duplicates: 0,
        missing: 0,
        complete: 0,
    };
    let mut run_id: Option<i64> = dest.last_run_id()?;
    let mut sha: Option<String> = match run_id {
        Some(id) => Some(dest.run(id)?.experiment_sha256),
        None => None,
    };
    for path in shards {
        let src = Store::open_existing(path)?;
        let Some(src_run) = src.last_run_id()? else {
            continue;
        };
        let run = src.run(src_run)?;
        match &sha {
            Some(s) if *s != run.experiment_sha256 => {
                return Err(StoreError::Mismatch {
                    path: path.clone(),
                    detail:
                        "it holds a different experiment (its hash differs from the other shards')"
                            .into(),
                });
            }
            _ => sha = Some(run.experiment_sha256.clone()),
        }
        let c = &dest.conn;
        let at = |e| StoreError::Sql {
            path: out.to_path_buf(),
            error: e,
        };
        c.execute("ATTACH DATABASE ?1 AS shard", [path.display().to_string()])
            .map_err(at)?;
        let result = (|| -> rusqlite::Result<()> {
            let tx = c.unchecked_transaction()?;
            let rid = match run_id {
                Some(r) => r,
                None => {
                    tx.execute(
                        "INSERT INTO run (experiment, created_at, status, seed, file_path, file_text, file_sha256, experiment_sha256, experiment_json, planned_trials)
                         SELECT experiment, created_at, status, seed, file_path, file_text, file_sha256, experiment_sha256, experiment_json, 0
                         FROM shard.run WHERE id = ?1",
                        [src_run],
                    )?;
                    let r = tx.last_insert_rowid();
                    tx.execute(
                        "INSERT INTO cell SELECT ?1, key, variant, workload, params, sweep, position FROM shard.cell WHERE run_id = ?2",
                        params![r, src_run],
                    )?;
                    run_id = Some(r);
                    r
                }
            };
            // Sessions and trials get fresh ids; children follow their trial.
            let session_offset: i64 =
                tx.query_row("SELECT coalesce(max(id), 0) FROM session", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO session SELECT id + ?1, ?2, started_at, ended_at, status, rigor_version, command_line, file_sha256, experiment_sha256, environment
                 FROM shard.session WHERE run_id = ?3",
                params![session_offset, rid, src_run],
            )?;
            let trial_offset: i64 =
                tx.query_row("SELECT coalesce(max(id), 0) FROM trial", [], |r| r.get(0))?;
            let before: i64 = tx.query_row("SELECT count(*) FROM trial", [], |r| r.get(0))?;
            let offered: i64 = tx.query_row(
                "SELECT count(*) FROM shard.trial WHERE run_id = ?1",
                [src_run],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO trial SELECT id + ?1, ?2, session_id + ?3, cell_key, phase, idx, seq, attempt, final, status, reason, exit_code, signal,
                        started_at, wall_s, argv, env, workdir, stdout_log, stdout_offset, stdout_len, stderr_log, stderr_offset, stderr_len, notes, flags, telemetry,
                        lane, lane_device
                 FROM shard.trial WHERE run_id = ?4",
                params![trial_offset, rid, session_offset, src_run],
            )?;
            let after: i64 = tx.query_row("SELECT count(*) FROM trial", [], |r| r.get(0))?;
            // Only rows of trials inserted above: a skipped duplicate has no new id.
            for (table, columns) in PER_TRIAL_TABLES {
                tx.execute(
                    &format!(
                        "INSERT INTO {table} SELECT x.trial_id + ?1, {columns} FROM shard.{table} x
                         JOIN main.trial t ON t.id = x.trial_id + ?1"
                    ),
                    [trial_offset],
                )?;
            }
            tx.execute(
                "UPDATE run SET planned_trials = planned_trials + (SELECT planned_trials FROM shard.run WHERE id = ?1),
                    status = CASE WHEN status = 'complete' AND (SELECT status FROM shard.run WHERE id = ?1) = 'complete'
                             THEN 'complete' ELSE 'incomplete' END
                 WHERE id = ?2",
                params![src_run, rid],
            )?;
            tx.commit()?;
            summary.shards += 1;
            summary.complete += usize::from(run.status == "complete");
            summary.attempts += (after - before) as usize;
            summary.duplicates += (offered - (after - before)) as usize;
            Ok(())
        })();
        c.execute("DETACH DATABASE shard", []).map_err(at)?;
        result.map_err(at)?;
    }
    if let Some(rid) = run_id {
        let at = |e| StoreError::Sql {
            path: out.to_path_buf(),
            error: e,
        };
        // Shards are sliced from one plan: together they must hold each cell's measured
        // trials. What none of them has is counted, never left to be noticed.
        let json: String = dest
            .conn
            .query_row(
                "SELECT experiment_json FROM run WHERE id = ?1",
                [rid],
                |r| r.get(0),
            )
            .map_err(at)?;
        let per_cell = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|e| e["trials"].as_u64());
        if let Some(per_cell) = per_cell {
            let mut stmt = dest
                .conn
                .prepare(
                    "SELECT (SELECT count(DISTINCT t.idx) FROM trial t
                             WHERE t.run_id = c.run_id AND t.cell_key = c.key
                               AND t.phase = 'measure' AND t.final = 1 AND t.idx < ?2)
                     FROM cell c WHERE c.run_id = ?1",
                )
                .map_err(at)?;
            let done: Vec<i64> = stmt
                .query_map(params![rid, per_cell as i64], |r| r.get(0))
                .map_err(at)?
                .collect::<Result<_, _>>()
                .map_err(at)?;
            summary.missing = done
                .iter()
                .map(|&d| per_cell.saturating_sub(d.max(0) as u64))
                .sum();
        }
        if summary.shards < expected || summary.missing > 0 {
            dest.conn
                .execute("UPDATE run SET status = 'incomplete' WHERE id = ?1", [rid])
                .map_err(at)?;
        }
        if let Some(p) = planned {
            dest.conn
                .execute(
                    "UPDATE run SET planned_trials = ?1 WHERE id = ?2",
                    params![p as i64, rid],
                )
                .map_err(at)?;
        }
    }
    Ok(summary)
}

/// The tables keyed by trial, with their columns after `trial_id` in schema order.
const PER_TRIAL_TABLES: [(&str, &str); 5] = [
    ("metric", "x.name, x.value, x.unit, x.better, x.n_samples"),
    ("sample", "x.metric, x.idx, x.value"),
    ("series", "x.name, x.unit, x.kind, x.t, x.v"),
    (
        "request",
        "x.idx, x.warmup, x.scheduled_s, x.sent_s, x.first_token_s, x.end_s, x.chunks_s, x.input_tokens, x.output_tokens, x.status, x.error, x.message, x.detail",
    ),
    ("missing_metric", "x.name, x.reason"),
];
