//! The runner: executes a plan's trials in order, records every attempt in the store the
//! moment it ends, and resumes where a killed run stopped. Beside it, what running needs:
//! one process (`exec`), the store's lock (`lock`), the run's logs (`logs`), metrics read
//! from a trial's output (`extract`), telemetry, network namespaces (`netns`), Slurm
//! shards (`slurm`), progress for whoever shows it, and the built-in workloads that run
//! inside a trial (`workload`).

pub mod capacity;
pub mod exec;
pub mod extract;
pub mod import;
pub mod lanes;
pub mod lock;
pub mod logs;
pub mod netns;
pub mod progress;
pub mod slurm;
pub mod telemetry;
pub mod window;
pub mod workload;
pub mod writer;

use crate::define::config::{Better, Experiment};
use crate::machine::envinfo;
use crate::plan::invocation::{self, Invocation};
use crate::plan::{self, Plan, PlannedTrial};
use crate::run::extract::{Extractor, MetricValue};
use crate::run::lock::{LockError, LockSlot, RunLock};
use crate::run::logs::RunLogs;
use crate::run::progress::{Progress, TrialEvent};
use crate::store::{
    AttemptRecord, LogRange, NewRun, NewSession, Store, StoreError, TrialStatus, now_rfc3339,
};
use exec::{ExecSpec, Termination};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use telemetry::{Recording, Sampler, Sources, WindowSpan};
use writer::Writer;

/// The next adaptive round: one more measured trial of each cell that is still open, in
/// the experiment's order scheme (shuffled with a seed derived from the experiment's seed
/// and the round, so a resumed run plans the same round). Empty when every cell is settled
/// or at `max`.
fn adaptive_round(
    store: &Store,
    run_id: i64,
    plan: &Plan,
    exp: &Experiment,
) -> Result<Vec<PlannedTrial>, RunError> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let data = store.load(run_id)?;
    // Each cell decided under the run's stored rule, as the report will.
    let decisions = crate::analyse::adaptive_decisions(&data).unwrap_or_default();
    // (plan cell index, its finished trials) of the open cells.
    let mut open: Vec<(usize, u32)> = decisions
        .iter()
        .filter(|d| d.open)
        .filter_map(|d| {
            let i = plan.cells.iter().position(|c| c.key == d.cell)?;
            Some((i, d.finished))
        })
        .collect();
    let next_seq = data
        .trials
        .iter()
        .map(|t| t.seq as usize + 1)
        .max()
        .unwrap_or(0);
    // Over the open cells: a settled cell's count stops growing, and with it a minimum
    // over all cells, which would shuffle every later round the same way.
    let round = open.iter().map(|&(_, f)| f).min().unwrap_or(0) as u64;
    if matches!(
        exp.order,
        crate::define::config::Order::Randomized | crate::define::config::Order::Shuffled
    ) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(exp.seed ^ (round << 32) ^ 0xada7);
        open.shuffle(&mut rng);
    }
    Ok(open
        .into_iter()
        .enumerate()
        .map(|(k, (cell, finished))| PlannedTrial {
            seq: next_seq.max(plan.trials.len()) + k,
            cell,
            phase: plan::Phase::Measure,
            index: finished,
            // Each cell's successive trials turn through the lanes: balanced every L rounds.
            lane: (plan.lanes > 1).then(|| (finished + cell as u32) % plan.lanes),
        })
        .collect())
}

pub use crate::define::Source;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePolicy {
    /// Resume the latest run if its experiment is unchanged; refuse if it changed.
    Auto,
    /// Resume the latest run even though the experiment changed.
    Force,
    /// Always start a new run.
    NewRun,
}

pub struct RunOptions {
    pub store: PathBuf,
    pub resume: ResumePolicy,
    /// rigor's own command line, recorded with the session.
    pub command_line: String,
    /// Run only shard `i` of `n` (a Slurm array task): see [`plan::shard`].
    pub shard: Option<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub run_id: i64,
    pub store: PathBuf,
    /// Trials this session ran to completion (ok or failed).
    pub executed: usize,
    /// Trials found finished from earlier sessions.
    pub already_done: usize,
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(
        "the experiment changed since run {run_id} in {store} began ({done} of {planned} trials done).\n\
         hint: to continue run {run_id} with the changed file, add --force (finished trials are kept and reported with the new ones);\n\
         \x20     to start afresh as a new run in the same store, add --new-run"
    )]
    Changed {
        run_id: i64,
        store: String,
        done: usize,
        planned: usize,
    },
    #[error("cannot create the log directory {0}: {1}")]
    Logs(PathBuf, std::io::Error),
    #[error(
        "the experiment has a [gate], which needs GPU readings, but {0}.\n\
         hint: run on a machine with the NVIDIA driver, or remove [gate] from the experiment file"
    )]
    GateWithoutNvml(String),
    #[error("variant `{variant}`: {message}")]
    Environment { variant: String, message: String },
    #[error(
        "adaptive stopping decides each round from all trials so far, which shards cannot see.\n\
         hint: use a fixed number of trials (`trials = 30`) for a sharded run"
    )]
    ShardAdaptive,
    #[error("lanes: {0}")]
    Lanes(String),
}

/// Checks every variant's environment before any trial runs: the runtime answers, the
/// image exists, the chroot is a directory, the namespaces can be created. Returns, per variant, the line each of its
/// trials records (runtime version and image identity).
pub fn check_environments(exp: &Experiment) -> Result<HashMap<String, String>, RunError> {
    use crate::define::environment::Environment;
    let mut out = HashMap::new();
    let mut probed: HashMap<Vec<String>, Result<String, CheckFailed>> = HashMap::new();
    for v in &exp.variants {
        let fail = |message: CheckFailed| RunError::Environment {
            variant: v.name.clone(),
            message: message.0,
        };
        match &v.environment {
            None => {}
            Some(Environment::Chroot(c)) => {
                // Known from the file: every such trial would fail the same way.
                if let Some(w) = exp.workloads.iter().find(|w| w.kind.probe().is_some()) {
                    return Err(fail(format!(
                        "the `{}` probe cannot run in a chroot: rigor's binary is not inside it; run the probe natively or in a container",
                        w.name
                    ).into()));
                }
                let root = c.root_in(&exp.base_dir);
                if !root.is_dir() {
                    return Err(fail(
                        format!("the chroot {} is not a directory", root.display()).into(),
                    ));
                }
                out.insert(v.name.clone(), format!("chroot {}", root.display()));
            }
            Some(Environment::Container(c)) => {
                let (version, image) = crate::define::environment::probes(c);
                // Variants that share a runtime or an image ask once.
                let mut run = |argv: Vec<String>| {
                    probed
                        .entry(argv)
                        .or_insert_with_key(|a| capture(a))
                        .clone()
                };
                let version = run(version).map_err(|e| {
                    fail(format!("the container runtime is not usable: {e}. Install it, or fix its configuration, before running").into())
                })?;
                let id = run(image).map_err(|e| {
                    fail(format!("the image `{}` is not available: {e}. Pull or build it first (rigor never pulls during a run)", c.image).into())
                })?;
                let id: String = id.lines().next().unwrap_or("").chars().take(200).collect();
                out.insert(
                    v.name.clone(),
                    format!("{version}; image {} = {id}", c.image),
                );
            }
        }
        if !v.unshare.is_empty() {
            let line = check_unshare(exp, v).map_err(fail)?;
            let entry = out.entry(v.name.clone()).or_default();
            if !entry.is_empty() {
                entry.push_str("; ");
            }
            entry.push_str(&line);
        }
    }
    Ok(out)
}

/// Creates the variant's namespaces once, running `true` in them (loopback brought up
/// for `net`), so that missing privileges or a chroot without `/proc` (for `pid`) stop the
/// run before any trial, not as N failed trials.
fn check_unshare(
    exp: &Experiment,
    v: &crate::define::config::Variant,
) -> Result<String, CheckFailed> {
    use crate::define::environment::{Environment, Namespace, unshare_words};
    let root = match &v.environment {
        Some(Environment::Chroot(c)) => Some(c.root_in(&exp.base_dir)),
        _ => None,
    };
    if let Some(r) = &root
        && v.unshare.contains(&Namespace::Pid)
        && !r.join("proc").is_dir()
    {
        return Err(CheckFailed(format!(
            "unshare pid mounts a /proc of its own at {}, which is not a directory: create it in the root",
            r.join("proc").display()
        )));
    }
    let own = crate::machine::own_exe().map_err(|e| CheckFailed(e.0))?;
    let mut words = unshare_words(&v.unshare, root.as_deref(), own);
    words.push("true".into());
    let names: Vec<&str> = v.unshare.iter().map(|n| n.name()).collect();
    capture(&words).map_err(|why| {
        let hint =
            if why.0.contains("Operation not permitted") && !v.unshare.contains(&Namespace::User) {
                "; run as root, or add \"user\" to unshare to create them as an unprivileged user"
            } else {
                ""
            };
        format!(
            "cannot create the namespaces {}: {why}{hint}",
            names.join(", ")
        )
    })?;
    Ok(format!("unshare {}", names.join(",")))
}

crate::reason_error!(
    /// A check command that failed, with what it said.
    CheckFailed
);

/// Runs a check command: its trimmed stdout, or what failed (the command and its stderr).
fn capture(argv: &[String]) -> Result<String, CheckFailed> {
    let o = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| CheckFailed(format!("`{}` cannot run: {e}", argv[0])))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(CheckFailed(format!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `rigor-results/<experiment>.db`, relative to the current directory.
pub fn default_store_path(exp: &Experiment) -> PathBuf {
    Path::new("rigor-results").join(format!("{}.db", exp.name))
}

/// `<store dir>/<store stem>-logs/`
fn log_dir(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rigor".into());
    store
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{stem}-logs"))
}

/// Sleeps, waking early on interrupt. Returns false if interrupted.
fn pause(d: Duration, interrupt: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if interrupt.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    !interrupt.load(Ordering::Relaxed)
}

/// What one attempt produced, ready to store.
struct AttemptResult {
    status: TrialStatus,
    reason: Option<String>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    wall: Option<Duration>,
    metrics: Vec<(String, MetricValue)>,
    missing: Vec<(String, String)>,
    notes: Vec<String>,
    flags: Vec<String>,
    telemetry: Option<Recording>,
    requests: Vec<crate::run::workload::llm::metrics::RequestRecord>,
    interrupted: bool,
    stdout: Option<LogRange>,
    stderr: Option<LogRange>,
}

impl AttemptResult {
    /// Failed until shown otherwise, with no reason yet.
    fn new() -> AttemptResult {
        AttemptResult {
            status: TrialStatus::Failed,
            reason: None,
            exit_code: None,
            signal: None,
            wall: None,
            metrics: Vec::new(),
            missing: Vec::new(),
            notes: Vec::new(),
            flags: Vec::new(),
            telemetry: None,
            requests: Vec::new(),
            interrupted: false,
            stdout: None,
            stderr: None,
        }
    }

    fn failed(reason: String) -> AttemptResult {
        AttemptResult {
            reason: Some(reason),
            ..AttemptResult::new()
        }
    }
}

fn builtin(value: f64, unit: &str) -> MetricValue {
    MetricValue {
        value,
        unit: Some(unit.to_string()),
        better: Some(Better::Lower),
        samples: Vec::new(),
    }
}

/// The last non-empty line a failed trial wrote to stderr, for its failure reason.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    let mut s: String = line.chars().take(300).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    Some(s)
}

#[allow(clippy::too_many_arguments)]
fn run_attempt(
    exp: &Experiment,
    extractor: &Extractor<'_>,
    inv: &Invocation,
    logs: &mut RunLogs,
    header: &str,
    interrupt: &AtomicBool,
    lock: &mut LockSlot,
    sources: &Sources,
    sampler: &mut Option<Sampler>,
) -> AttemptResult {
    let mut r = AttemptResult::new();
    let start = match logs.begin(header) {
        Ok(s) => s,
        Err(e) => {
            r.reason = Some(format!("cannot write the run's log files: {e}"));
            return r;
        }
    };
    let pgid = Arc::new(AtomicI32::new(0));
    // The clock windows are measured on: the telemetry's, when there is telemetry.
    let mut origin = Instant::now();
    if let Some(s) = sampler.as_mut() {
        origin = s.begin(pgid.clone());
    }
    let outcome = exec::execute(&mut ExecSpec {
        argv: &inv.argv,
        env: &inv.env,
        workdir: &inv.workdir,
        stdout: &logs.stdout,
        stderr: &logs.stderr,
        timeout: exp.timeout,
        interrupt,
        on_start: &mut |pid| {
            pgid.store(pid, Ordering::Relaxed);
            lock.set_running(pid)
        },
    });
    // Unpaired markers fail the trial, but only one that ended normally: an interrupted,
    // timed-out or failed one keeps its own reason (and an interrupted one is rerun).
    let (windows, window_error) = match outcome.as_ref().map(|o| window::spans(&o.markers, origin))
    {
        Ok(Ok(spans)) => (spans, None),
        Ok(Err(e)) => (Vec::new(), Some(format!("window markers: {e}"))),
        Err(_) => (Vec::new(), None),
    };
    let visits = by_window(&windows);
    for (name, v) in &visits {
        let secs = v.iter().map(|(b, e)| e - b).sum::<f64>();
        r.metrics
            .push((window::time_metric(name), builtin(secs, "s")));
    }
    if let Some(sampler) = sampler.as_mut() {
        let mut rec = sampler.end();
        let summary = telemetry::summarize(&rec, &sources.settings);
        r.metrics.extend(summary.metrics);
        r.missing.extend(summary.missing);
        r.flags = summary.flags;
        r.notes.extend(summary.notes);
        for (name, v) in &visits {
            let w = telemetry::summarize_window(&rec, v, &window::prefix(name));
            r.metrics.extend(w.metrics);
            r.missing.extend(w.missing);
            r.notes.extend(w.notes);
            r.flags.extend(w.flags);
        }
        rec.windows = windows.clone();
        r.telemetry = Some(rec);
    }
    match logs.end(start) {
        Ok((out, err)) => {
            r.stdout = Some(out);
            r.stderr = Some(err);
        }
        Err(e) => {
            r.reason = Some(format!("cannot read the run's log files: {e}"));
            return r;
        }
    }
    let o = match outcome {
        Ok(o) => o,
        Err(e) => {
            r.reason = Some(e.to_string());
            return r;
        }
    };
    r.wall = Some(o.wall);
    r.metrics
        .push(("wall_time".into(), builtin(o.wall.as_secs_f64(), "s")));
    r.metrics
        .push(("user_time".into(), builtin(o.user.as_secs_f64(), "s")));
    r.metrics
        .push(("sys_time".into(), builtin(o.sys.as_secs_f64(), "s")));
    r.metrics.push((
        "max_rss".into(),
        builtin(o.max_rss_kib as f64 / 1024.0, "MiB"),
    ));
    if o.stdout_abandoned {
        r.notes.push(
            "a process outside the trial's group still held its stdout open when the trial ended; what it printed after was not kept".into(),
        );
    }
    if o.stragglers_killed {
        r.notes
            .push("left processes running after exit; rigor killed them".into());
    }
    // Requests an llm-serve trial recorded are kept whatever became of the trial: a server
    // that died mid-load leaves the ones that ended before as evidence.
    if let Some(range) = &r.stdout {
        match logs.text(range) {
            Ok(so) => {
                let (requests, bad) = request_records(&so);
                r.requests = requests;
                if let Some((n, first)) = bad {
                    r.notes.push(format!(
                        "{n} request record(s) in the output could not be read and are not stored (first: {first})"
                    ));
                }
            }
            Err(e) => r
                .notes
                .push(format!("cannot read the trial's request records: {e}")),
        }
    }
    match o.termination {
        Termination::Interrupted => {
            r.interrupted = true;
            r.reason = Some("interrupted".into());
            return r;
        }
        Termination::TimedOut => {
            r.status = TrialStatus::Timeout;
            r.reason = Some(format!(
                "timed out after {}",
                humantime::format_duration(exp.timeout.unwrap_or_default())
            ));
            return r;
        }
        Termination::Signaled(sig) => {
            r.signal = Some(sig);
            r.reason = Some(format!("killed by signal {sig}"));
            return r;
        }
        Termination::Exited(code) => {
            r.exit_code = Some(code);
            if code != 0 {
                let tail = r
                    .stderr
                    .as_ref()
                    .and_then(|range| logs.text(range).ok())
                    .and_then(|t| last_line(&t));
                r.reason = Some(match tail {
                    Some(line) => format!("exit status {code}: {line}"),
                    None => format!("exit status {code}"),
                });
                return r;
            }
        }
    }
    if let Some(why) = window_error {
        r.reason = Some(why);
        return r;
    }
    let read = |range: &Option<LogRange>| match range {
        Some(range) => logs.text(range),
        None => Ok(String::new()),
    };
    let stdout = read(&r.stdout);
    let stderr = read(&r.stderr);
    match (stdout, stderr) {
        (Ok(so), Ok(se)) => {
            let ex = extractor.extract(&so, &se);
            r.metrics.extend(ex.values);
            r.missing.extend(ex.missing);
            if !ex.errors.is_empty() {
                r.reason = Some(ex.errors.join("; "));
                return r;
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            r.reason = Some(format!("cannot read the trial's output log: {e}"));
            return r;
        }
    }
    derived_llm(&mut r.metrics, &mut r.missing);
    r.status = TrialStatus::Ok;
    r
}

/// The visits of each window, by name, in the order they were first opened.
fn by_window(spans: &[WindowSpan]) -> Vec<(&str, Vec<(f64, f64)>)> {
    let mut out: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for s in spans {
        match out.iter_mut().find(|(n, _)| *n == s.window) {
            Some((_, v)) => v.push((s.begin_s, s.end_s)),
            None => out.push((&s.window, vec![(s.begin_s, s.end_s)])),
        }
    }
    out
}

/// Energy per unit of work for an `llm-serve` trial: the GPU energy of its load (the
/// window the probe marks) over the output tokens and the requests it served. Counts are
/// rate × duration, which is exactly how the rates were made from them.
fn derived_llm(metrics: &mut Vec<(String, MetricValue)>, missing: &mut Vec<(String, String)>) {
    let get = |n: &str| metrics.iter().find(|m| m.0 == n).map(|m| m.1.value);
    let (Some(duration), Some(req_s)) = (get("llm.duration_s"), get("llm.req_s")) else {
        return;
    };
    let names = [
        (
            "llm.energy_j_per_output_token",
            get("llm.output_tok_s"),
            "J/token",
        ),
        ("llm.energy_j_per_request", Some(req_s), "J/request"),
    ];
    let energy = get("window.gpu.energy_j");
    for (name, rate, unit) in names {
        let work = rate.map(|r| r * duration);
        match (energy, work) {
            (Some(e), Some(w)) if w > 0.0 => metrics.push((
                name.into(),
                MetricValue {
                    value: e / w,
                    unit: Some(unit.into()),
                    better: Some(Better::Lower),
                    samples: Vec::new(),
                },
            )),
            (None, _) => {
                if let Some(why) = missing
                    .iter()
                    .find(|m| m.0 == "window.gpu.energy_j")
                    .map(|m| m.1.clone())
                {
                    missing.push((name.into(), format!("no GPU energy over the load: {why}")));
                }
            }
            _ => missing.push((name.into(), "no output tokens were counted".into())),
        }
    }
}

/// The `{"request": …}` lines an llm-serve trial printed, and the first line that could
/// not be read, with how many could not.
fn request_records(
    stdout: &str,
) -> (
    Vec<crate::run::workload::llm::metrics::RequestRecord>,
    Option<(usize, String)>,
) {
    #[derive(serde::Deserialize)]
    struct Line {
        request: crate::run::workload::llm::metrics::RequestRecord,
    }
    let mut out = Vec::new();
    let mut bad: Option<(usize, String)> = None;
    for l in stdout.lines().filter(|l| l.starts_with("{\"request\":")) {
        match serde_json::from_str::<Line>(l) {
            Ok(l) => out.push(l.request),
            Err(e) => {
                let b = bad.get_or_insert((0, e.to_string()));
                b.0 += 1;
            }
        }
    }
    (out, bad)
}

/// How often a closed gate is looked at again.
const GATE_POLL: Duration = Duration::from_millis(500);

fn look_at_gpus(sources: &Sources) -> Vec<telemetry::gate::GpuState> {
    use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
    let Some(nvml) = sources.nvml() else {
        return Vec::new();
    };
    sources
        .gpus
        .iter()
        .map(|&index| match nvml.device_by_index(index) {
            Ok(d) => telemetry::gate::GpuState {
                index,
                temp_c: d
                    .temperature(TemperatureSensor::Gpu)
                    .map_err(|e| e.to_string().into()),
                processes: d
                    .running_compute_processes()
                    .map(|p| p.into_iter().map(|p| p.pid).collect())
                    .map_err(|e| e.to_string().into()),
            },
            Err(e) => telemetry::gate::GpuState {
                index,
                temp_c: Err(e.to_string().into()),
                processes: Err(e.to_string().into()),
            },
        })
        .collect()
}

/// The trials still to run, by lane, and the alone trials of the isolation check, which
/// wait until every lane is idle and every trial planned before them has started.
struct Queue {
    lanes: Vec<std::collections::VecDeque<PlannedTrial>>,
    alone: std::collections::VecDeque<PlannedTrial>,
}

impl Queue {
    fn new(lanes: usize) -> Queue {
        Queue {
            lanes: vec![Default::default(); lanes],
            alone: Default::default(),
        }
    }

    /// Trials arrive in plan order.
    fn push(&mut self, t: PlannedTrial) {
        let k = t.lane.unwrap_or(0) as usize % self.lanes.len();
        if t.phase == plan::Phase::Isolation {
            self.alone.push_back(t);
        } else {
            self.lanes[k].push_back(t);
        }
    }

    fn is_empty(&self) -> bool {
        self.alone.is_empty() && self.lanes.iter().all(|q| q.is_empty())
    }

    /// What to start now, given which lanes are busy: each idle lane's next trial, unless
    /// an alone trial comes first in plan order; that one once every lane is idle and
    /// nothing planned before it is left.
    fn next(&mut self, busy: &[bool]) -> Vec<(usize, PlannedTrial)> {
        let barrier = self.alone.front().map(|t| t.seq);
        if let Some(b) = barrier
            && busy.iter().all(|x| !x)
            && self
                .lanes
                .iter()
                .all(|q| q.front().is_none_or(|t| t.seq > b))
            && let Some(t) = self.alone.pop_front()
        {
            return vec![(t.lane.unwrap_or(0) as usize % self.lanes.len(), t)];
        }
        let mut out = Vec::new();
        for (k, q) in self.lanes.iter_mut().enumerate() {
            if !busy[k]
                && q.front().is_some_and(|t| barrier.is_none_or(|b| t.seq < b))
                && let Some(t) = q.pop_front()
            {
                out.push((k, t));
            }
        }
        out
    }
}

/// A trial for a lane's thread, with the attempts earlier sessions made of it.
#[derive(Clone)]
struct Job {
    trial: PlannedTrial,
    key: plan::TrialKey,
    label: String,
    made: u32,
    /// The next attempt right after a failed one (no cooldown between them).
    again: bool,
}

/// One attempt, for the runner's thread to store: the store has one writer.
struct Finished {
    lane: usize,
    seq: usize,
    key: plan::TrialKey,
    label: String,
    attempt: u32,
    is_final: bool,
    started_at: String,
    result: AttemptResult,
    inv: Invocation,
}

enum Event {
    Note(String),
    Started(String),
    Attempt(Box<Finished>),
    /// The lane is free again without a final attempt; `stopped`: interrupted, its trial
    /// left to run on resume. (A final attempt frees its lane itself.)
    Done {
        lane: usize,
        stopped: bool,
    },
}

/// `a/w[x=1] #3`, with its lane when there are lanes.
fn trial_label(plan: &Plan, t: &PlannedTrial, laned: bool) -> String {
    let what = match t.phase {
        plan::Phase::Warmup => format!("warmup {}", t.index + 1),
        plan::Phase::Measure => format!("#{}", t.index + 1),
        plan::Phase::Isolation => format!("alone {}", t.index + 1),
    };
    let cell = &plan.cells[t.cell].key;
    match t.lane.filter(|_| laned) {
        Some(l) => format!("[lane {l}] {cell} {what}"),
        None => format!("{cell} {what}"),
    }
}

/// What came of handing a lane one attempt.
enum Handled {
    /// The trial is over (its final attempt, or stopped).
    Done,
    /// Its next attempt is due.
    Again,
    /// The runner is gone.
    Gone,
}

/// What a lane keeps between its trials.
struct LaneState {
    logs: RunLogs,
    slot: LockSlot,
    sampler: Option<Sampler>,
    programs: HashMap<(String, Option<String>), Option<PathBuf>>,
    /// By cell: the one invocation all its trials run, or None when it varies by trial.
    invocations: HashMap<usize, Option<Invocation>>,
    last_end: Option<Instant>,
}

/// One lane: its thread runs the trials it is given, one at a time, with its own logs,
/// lock record, sampler (its GPU only) and CPU pinning.
struct LaneWorker<'a> {
    k: usize,
    exp: &'a Experiment,
    cells: &'a [plan::Cell],
    lane: Option<&'a lanes::Lane>,
    extractors: &'a HashMap<&'a String, Extractor<'a>>,
    environments: &'a HashMap<String, String>,
    /// Ctrl-C, or the runner could keep nothing more (a full disk).
    interrupt: &'a AtomicBool,
    sources: Sources,
    events: mpsc::Sender<Event>,
    /// Tell the runner when each attempt starts (a lane on a thread of its own; the runner
    /// announces its own thread's trials itself).
    announce: bool,
}

impl LaneWorker<'_> {
    /// The lane's thread: its trials, one at a time, until the runner closes the channel.
    fn serve(self, logs: RunLogs, slot: LockSlot, jobs: mpsc::Receiver<Job>) {
        // A panic on this thread frees its lane and stops the run, instead of leaving the
        // runner waiting for a lane that will never answer; the panic itself propagates
        // when the runner joins the thread.
        struct OnPanic<'e>(&'e mpsc::Sender<Event>, usize);
        impl Drop for OnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let _ = self.0.send(Event::Done {
                        lane: self.1,
                        stopped: true,
                    });
                }
            }
        }
        let _guard = OnPanic(&self.events, self.k);
        let mut st = self.start(logs, slot);
        'jobs: while let Ok(mut job) = jobs.recv() {
            loop {
                match self.handle(&mut st, &job) {
                    Handled::Done => break,
                    Handled::Again => {
                        job.made += 1;
                        job.again = true;
                    }
                    Handled::Gone => break 'jobs,
                }
            }
        }
        st.slot.clear();
    }

    /// Pins the calling thread (a lane's CPUs) and starts its sampler there, so that the
    /// sampler's threads share the pinning.
    fn start(&self, logs: RunLogs, slot: LockSlot) -> LaneState {
        let note = |s: String| {
            let _ = self.events.send(Event::Note(s));
        };
        if let Some(l) = self.lane
            && let Some(cpus) = &l.cpus
            && let Err(e) = lanes::pin_this_thread(cpus)
        {
            note(format!(
                "lane {}: cannot pin to CPUs {}: {e}; its trials run unpinned",
                l.index,
                lanes::fmt_cpus(cpus)
            ));
        }
        let sampler = if self.sources.active() {
            match Sampler::spawn(&self.sources) {
                Ok(s) => Some(s),
                Err(e) => {
                    note(format!("no telemetry: {e}"));
                    None
                }
            }
        } else {
            None
        };
        LaneState {
            logs,
            slot,
            sampler,
            programs: HashMap::new(),
            invocations: HashMap::new(),
            last_end: None,
        }
    }

    /// One trial, after the lane's cooldown. False when the runner is gone.
    fn handle(&self, st: &mut LaneState, job: &Job) -> Handled {
        // The cooldown counts from the end of the lane's last trial: time spent waiting for
        // an alone trial or for the other lanes already cooled it. Attempts of one trial
        // follow each other without one.
        let rest = match st.last_end {
            Some(t) if !job.again => self.exp.cooldown.saturating_sub(t.elapsed()),
            _ => Duration::ZERO,
        };
        let cooled = rest.is_zero() || pause(rest, self.interrupt);
        let end = if cooled {
            self.run_job(job, st)
        } else {
            JobEnd::Stopped(true)
        };
        st.last_end = Some(Instant::now());
        match end {
            JobEnd::Freed => Handled::Done,
            JobEnd::Again => Handled::Again,
            JobEnd::Stopped(stopped) => {
                let sent = self.events.send(Event::Done {
                    lane: self.k,
                    stopped,
                });
                if sent.is_ok() {
                    Handled::Done
                } else {
                    Handled::Gone
                }
            }
        }
    }

    /// What trial `index` of `cell` runs on this lane, its program found on the PATH.
    fn invocation(
        &self,
        cell: &plan::Cell,
        index: u32,
        programs: &mut HashMap<(String, Option<String>), Option<PathBuf>>,
    ) -> Result<Invocation, invocation::InvocationError> {
        let lane_env = self.lane.map(|l| l.env()).unwrap_or_default();
        let in_lane = self.lane.map(|l| invocation::InLane {
            env: &lane_env,
            gpu_uuid: l.gpu_uuid.as_deref(),
        });
        invocation::build_in(self.exp, cell, index, in_lane.as_ref()).map(|mut inv| {
            // The exact program that runs is recorded, and the PATH walk stays out of the timing.
            let path = inv
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone());
            let key = (inv.argv[0].clone(), path);
            let resolved = programs
                .entry(key)
                .or_insert_with_key(|(prog, path)| exec::resolve_program(prog, path.as_deref()));
            if let Some(p) = resolved {
                inv.argv[0] = p.display().to_string();
            }
            inv
        })
    }

    /// The trial's next attempt, sent to be stored as it ends. `Freed` when it was the
    /// final one (that event frees the lane), `Again` when another is due, else whether it
    /// was interrupted.
    fn run_job(&self, job: &Job, st: &mut LaneState) -> JobEnd {
        let exp = self.exp;
        let cell = &self.cells[job.trial.cell];
        let LaneState {
            logs,
            slot,
            sampler,
            programs,
            invocations,
            ..
        } = st;
        // A cell whose invocation the trial index does not change (no `{trial}` in it, no
        // container name) is built once: building it cost a short trial ~10 µs on a 2-core VM.
        let invocation = match invocations.get(&job.trial.cell) {
            Some(Some(inv)) => Ok(inv.clone()),
            Some(None) => self.invocation(cell, job.trial.index, programs),
            None => {
                let built = self.invocation(cell, job.trial.index, programs);
                if let Ok(inv) = &built {
                    let next = self.invocation(cell, job.trial.index.wrapping_add(1), programs);
                    let same = matches!(next, Ok(next) if next == *inv);
                    invocations.insert(job.trial.cell, same.then(|| inv.clone()));
                }
                built
            }
        };
        let max_attempts = exp.retries + 1;
        // One attempt: the runner stores it before the next one, if any, starts.
        let attempt = job.made + 1;
        // Interrupted, or the store failed (which interrupts too): start nothing more.
        if self.interrupt.load(Ordering::Relaxed) {
            return JobEnd::Stopped(true);
        }
        let gate = match &exp.gate {
            None => telemetry::gate::Outcome::Open(Duration::ZERO, None),
            Some(g) => {
                telemetry::gate::wait(g, || look_at_gpus(&self.sources), self.interrupt, GATE_POLL)
            }
        };
        if self.announce {
            let _ = self.events.send(Event::Started(job.label.clone()));
        }
        let started_at = now_rfc3339();
        let header = format!(
            "trial {} {} attempt {attempt} at {started_at}",
            job.trial.seq, job.label
        );
        let (mut result, inv) = match (&invocation, &gate) {
            (_, telemetry::gate::Outcome::Interrupted) => return JobEnd::Stopped(true),
            (Ok(inv), telemetry::gate::Outcome::TimedOut(why)) => {
                (AttemptResult::failed(format!("gate: {why}")), inv.clone())
            }
            (Ok(inv), telemetry::gate::Outcome::Open(..)) => (
                run_attempt(
                    exp,
                    &self.extractors[&cell.workload],
                    inv,
                    logs,
                    &header,
                    self.interrupt,
                    slot,
                    &self.sources,
                    sampler,
                ),
                inv.clone(),
            ),
            (Err(e), _) => (
                AttemptResult::failed(format!("cannot build the command: {e}")),
                Invocation {
                    cleanup: None,
                    argv: Vec::new(),
                    env: Vec::new(),
                    workdir: exp.base_dir.clone(),
                },
            ),
        };
        slot.clear();
        if let Some(line) = self.environments.get(&cell.variant) {
            result.notes.push(format!("environment: {line}"));
        }
        finish_attempt(exp, logs, &mut result, &inv);
        if let telemetry::gate::Outcome::Open(waited, Some(why)) = &gate {
            result.notes.push(format!(
                "waited {:.1} s at the gate ({why})",
                waited.as_secs_f64()
            ));
        }
        if result.interrupted {
            // An interrupted trial is not a result: it is left unrecorded and runs again on resume.
            return JobEnd::Stopped(true);
        }
        let is_final = result.status == TrialStatus::Ok || attempt >= max_attempts;
        let sent = self.events.send(Event::Attempt(Box::new(Finished {
            lane: self.k,
            seq: job.trial.seq,
            key: job.key.clone(),
            label: job.label.clone(),
            attempt,
            is_final,
            started_at,
            result,
            inv,
        })));
        match (sent, is_final) {
            (Err(_), _) => JobEnd::Stopped(self.interrupt.load(Ordering::Relaxed)),
            (Ok(()), true) => JobEnd::Freed,
            (Ok(()), false) => JobEnd::Again,
        }
    }
}

/// How a lane's trial ended, for its thread.
enum JobEnd {
    /// Its final attempt was sent: that event frees the lane.
    Freed,
    /// A failed attempt with another to come was sent.
    Again,
    /// No final attempt: interrupted (true), or the runner is gone.
    Stopped(bool),
}

/// After an attempt's metrics and requests were read: its logs cut to the limit, and what
/// a failed container trial left behind removed.
fn finish_attempt(
    exp: &Experiment,
    logs: &mut RunLogs,
    result: &mut AttemptResult,
    inv: &Invocation,
) {
    for (range, stream) in [
        (&mut result.stdout, "stdout"),
        (&mut result.stderr, "stderr"),
    ] {
        let Some(range) = range else { continue };
        match logs.cap(range, exp.log_limit) {
            Ok(Some(cut)) => result.notes.push(format!(
                "{cut} bytes cut from the middle of its {stream} in the log (experiment.log_limit = {} bytes)",
                exp.log_limit
            )),
            Ok(None) => {}
            Err(e) => result
                .notes
                .push(format!("its {stream} could not be cut to the log limit: {e}")),
        }
    }
    // A container the CLI lost hold of (timeout, kill) is removed by name.
    if result.status != TrialStatus::Ok
        && let Some(rm) = &inv.cleanup
    {
        match std::process::Command::new(&rm[0])
            .args(&rm[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            Ok(st) if st.success() => result.notes.push(format!("cleanup: {}", rm.join(" "))),
            // Also what a runtime says when the container never started.
            Ok(st) => result.notes.push(format!(
                "cleanup `{}` exited with {st} (no container left, or it could not be removed)",
                rm.join(" ")
            )),
            Err(e) => result
                .notes
                .push(format!("cleanup `{}` failed: {e}", rm.join(" "))),
        }
    }
}

/// Runs (or resumes) the experiment.
pub fn run(
    src: &Source,
    opts: &RunOptions,
    progress: &mut dyn Progress,
    interrupt: &AtomicBool,
) -> Result<RunOutcome, RunError> {
    let exp = &src.experiment;
    let lanes = lanes::resolve(exp).map_err(|e| RunError::Lanes(e.0))?;
    let mut plan: Plan = plan::build_for(exp, lanes.len().max(1));
    // Lanes the file names, the same on every node (`gpus = "all"` is counted on each).
    let declared = exp.lanes.as_ref().and_then(|l| l.declared());
    if let Some((i, n)) = opts.shard {
        if exp.adaptive.is_some() {
            return Err(RunError::ShardAdaptive);
        }
        plan::shard(&mut plan, i, n, declared.unwrap_or(1) as u32);
    }
    let sources = Sources::open(&exp.telemetry);
    if exp.gate.is_some()
        && let Some(why) = &sources.gpu_unavailable
    {
        return Err(RunError::GateWithoutNvml(why.clone()));
    }
    let environments = check_environments(exp)?;
    let (lock, leftover) = RunLock::acquire(&opts.store)?;
    if let Some(note) = leftover {
        progress.note(&note);
    }
    let store = Store::open(&opts.store)?;
    let abandoned = store.close_abandoned()?;
    if abandoned > 0 {
        progress.note(&format!(
            "{abandoned} earlier session(s) of this store ended without closing (a runner killed, or stopped by a full disk); marked `died`"
        ));
    }
    if let Some(note) = writer::recover(&store)? {
        progress.note(&note);
    }
    let file_sha = sha256_hex(src.text.as_bytes());
    let exp_json = serde_json::to_string(exp).unwrap_or_default();
    // The hash covers what decides the trials; [analysis], [[hypothesis]] and [[derived]] only change how
    // the report reads them, so editing them neither refuses a resume nor starts a new run.
    let exp_sha = {
        let mut measured = exp.clone();
        measured.analysis = Default::default();
        measured.hypotheses.clear();
        measured.derived.clear();
        sha256_hex(
            serde_json::to_string(&measured)
                .unwrap_or_default()
                .as_bytes(),
        )
    };
    let new_run = NewRun {
        experiment: &exp.name,
        seed: exp.seed,
        file_path: &src.path.display().to_string(),
        file_text: &src.text,
        file_sha256: &file_sha,
        experiment_sha256: &exp_sha,
        experiment_json: &exp_json,
        planned_trials: plan.trials.len(),
    };

    let latest = if opts.resume == ResumePolicy::NewRun {
        None
    } else {
        store.latest_run(&exp.name)?
    };
    let run_id = match latest {
        None => store.create_run(&new_run, &plan.cells)?,
        Some(run) if run.experiment_sha256 == exp_sha => {
            if run.experiment_json != exp_json || run.file_text != src.text {
                store.update_run_file(run.id, &new_run, &plan.cells)?;
            }
            run.id
        }
        Some(run) if opts.resume == ResumePolicy::Force => {
            progress.note(&format!("the experiment changed since run {} began; continuing it with the new file (--force)", run.id));
            store.update_run_file(run.id, &new_run, &plan.cells)?;
            run.id
        }
        Some(run) => {
            let attempts = store.attempts(run.id)?;
            return Err(RunError::Changed {
                run_id: run.id,
                store: opts.store.display().to_string(),
                done: attempts.values().filter(|(_, fin)| *fin).count(),
                planned: run.planned_trials as usize,
            });
        }
    };

    let attempts = store.attempts(run_id)?;
    let done = plan
        .trials
        .iter()
        .filter(|t| attempts.get(&plan.key(t)).is_some_and(|(_, fin)| *fin))
        .count();
    let mut environment =
        serde_json::to_value(envinfo::capture(&exp.base_dir, Some(&file_sha))).unwrap_or_default();
    // Measured when this session has trials to run, not on a resume that finds none.
    if done < plan.trials.len()
        && let Some(floor) = workload::llm::floor::of_run(exp, &plan, progress)
        && let Some(map) = environment.as_object_mut()
    {
        map.insert("client_floor".into(), floor);
    }
    let session = store.start_session(&NewSession {
        run_id,
        rigor_version: env!("CARGO_PKG_VERSION"),
        command_line: &opts.command_line,
        file_sha256: &file_sha,
        experiment_sha256: &exp_sha,
        environment: &environment,
    })?;
    store.set_run_status(run_id, "running")?;
    let log_dir = log_dir(&opts.store);
    let lane_count = lanes.len().max(1);
    let mut lane_logs = Vec::new();
    let mut slots = Vec::new();
    for k in 0..lane_count {
        let lane = (!lanes.is_empty()).then_some(k as u32);
        lane_logs.push(
            RunLogs::open_lane(&log_dir, run_id, lane)
                .map_err(|e| RunError::Logs(log_dir.clone(), e))?,
        );
        slots.push(
            lock.slot(k as u32)
                .map_err(|e| RunError::Lanes(format!("cannot write the lock file: {e}")))?,
        );
    }

    if let Some(why) = &sources.gpu_unavailable {
        let wants_gpu = exp.telemetry.gpu == crate::define::config::GpuTelemetry::On
            || exp.workloads.iter().any(|w| w.kind.probe().is_some());
        if wants_gpu {
            progress.note(&format!("no GPU telemetry: {why}"));
        }
    }
    if let Some(note) = plan::lane_balance(&plan) {
        match opts.shard {
            Some((_, n)) if n > 1 => progress.note(&format!(
                "{note}; {}",
                plan::shard_balance_hint(plan.lanes, n, declared.is_some())
            )),
            _ => progress.note(&note),
        }
    }
    progress.begin(plan.trials.len(), done);
    let extractors: HashMap<&String, Extractor<'_>> = exp
        .workloads
        .iter()
        .map(|w| (&w.name, Extractor::new(invocation::command_of(w))))
        .collect();
    let mut queue = Queue::new(lane_count);
    for t in plan
        .trials
        .iter()
        .filter(|t| !attempts.get(&plan.key(t)).is_some_and(|(_, fin)| *fin))
    {
        queue.push(t.clone());
    }
    let mut writer = Writer::start(Store::open(&opts.store)?)?;
    let session_start = Instant::now();
    let mut executed = 0;
    let mut interrupted = false;
    let mut failure: Option<RunError> = None;
    std::thread::scope(|scope| {
        let (events_tx, events) = mpsc::channel::<Event>();
        let mut jobs = Vec::new();
        // One lane runs on this thread: handing each trial to another thread and its
        // results back cost a short trial more than everything else the runner does.
        let mut inline = None;
        for (k, (logs, slot)) in lane_logs.into_iter().zip(slots).enumerate() {
            let (tx, rx) = mpsc::channel::<Job>();
            jobs.push(tx);
            let lane = lanes.get(k);
            let worker = LaneWorker {
                k,
                exp,
                cells: &plan.cells,
                lane,
                extractors: &extractors,
                environments: &environments,
                interrupt,
                sources: match lane {
                    Some(l) => sources.for_lane(l.gpu),
                    None => sources.clone(),
                },
                events: events_tx.clone(),
                announce: lane_count > 1,
            };
            if lane_count == 1 {
                let state = worker.start(logs, slot);
                inline = Some((worker, state, rx));
            } else {
                scope.spawn(move || worker.serve(logs, slot, rx));
            }
        }
        // What starting the lanes had to say; no trial has been handed out yet.
        while let Ok(Event::Note(n)) = events.try_recv() {
            progress.note(&n);
        }
        let mut busy = vec![false; lane_count];
        let mut alone = false;
        let mut stopping = false;
        // The inline lane's trial whose next attempt is due.
        let mut again: Option<Job> = None;
        // Starts what can start on idle lanes.
        let dispatch = |queue: &mut Queue, busy: &mut [bool], alone: &mut bool| {
            for (k, job) in queue.next(busy) {
                *alone = job.phase == plan::Phase::Isolation;
                busy[k] = true;
                let key = plan.key(&job);
                let made = attempts.get(&key).map_or(0, |(n, _)| *n);
                let label = trial_label(&plan, &job, !lanes.is_empty());
                if jobs[k]
                    .send(Job {
                        trial: job,
                        key,
                        label,
                        made,
                        again: false,
                    })
                    .is_err()
                {
                    busy[k] = false;
                }
            }
        };
        loop {
            if !stopping && !alone {
                dispatch(&mut queue, &mut busy, &mut alone);
            }
            // The inline lane runs one attempt per pass, so that each is stored (by the
            // event handling below) before the next begins.
            if stopping
                && let Some((_, _, rx)) = &inline
                && (again.take().is_some() || rx.try_recv().is_ok())
            {
                // Handed out, or with attempts to come, but not to run now: it runs again
                // on resume.
                busy[0] = false;
            }
            if let Some((worker, state, rx)) = &mut inline
                && !stopping
                && let Some(mut job) = again.take().or_else(|| rx.try_recv().ok())
            {
                progress.trial_started(&job.label);
                match worker.handle(state, &job) {
                    Handled::Done => {}
                    Handled::Again => {
                        job.made += 1;
                        job.again = true;
                        again = Some(job);
                    }
                    Handled::Gone => break,
                }
            }
            if busy.iter().all(|b| !b) {
                if stopping || !queue.is_empty() {
                    break;
                }
                // Every planned trial ran: an adaptive run may want another round.
                let Some(rule) = &exp.adaptive else { break };
                if let Some(b) = rule.budget
                    && session_start.elapsed() >= b
                {
                    progress.note(&format!(
                        "adaptive: the time budget ({}) is spent; no new round",
                        humantime::format_duration(b)
                    ));
                    break;
                }
                let round = match writer
                    .flush()
                    .map_err(RunError::from)
                    .and_then(|()| adaptive_round(&store, run_id, &plan, exp))
                {
                    Ok(r) => r,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                if round.is_empty() {
                    break;
                }
                progress.grow(round.len());
                progress.note(&format!(
                    "adaptive: another round over {} open cell(s)",
                    round.len()
                ));
                for t in round {
                    queue.push(t);
                }
                continue;
            }
            // Woken now and then to see an interrupt even while every lane is mid-trial.
            let event = match events.recv_timeout(Duration::from_millis(250)) {
                Ok(e) => e,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if interrupt.load(Ordering::Relaxed) {
                        interrupted = true;
                        stopping = true;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match event {
                Event::Note(n) => progress.note(&n),
                Event::Started(label) => progress.trial_started(&label),
                Event::Attempt(f) => {
                    let Finished {
                        lane,
                        seq,
                        key,
                        label,
                        attempt,
                        is_final,
                        started_at,
                        result: r,
                        inv,
                    } = *f;
                    // The lane's next trial starts before this one is stored: the commit
                    // overlaps it instead of holding the lane idle.
                    if is_final {
                        busy[lane] = false;
                        alone = false;
                        if !stopping && !interrupt.load(Ordering::Relaxed) {
                            dispatch(&mut queue, &mut busy, &mut alone);
                        }
                    }
                    let (status, wall, reason) = (r.status, r.wall, r.reason.clone());
                    if failure.is_none() {
                        let recorded = writer.record(AttemptRecord {
                            run_id,
                            session_id: session,
                            key,
                            seq,
                            attempt,
                            is_final,
                            status: r.status,
                            reason: r.reason,
                            exit_code: r.exit_code,
                            signal: r.signal,
                            started_at,
                            wall_s: r.wall.map(|w| w.as_secs_f64()),
                            argv: inv.argv,
                            env: inv.env,
                            workdir: inv.workdir,
                            stdout_log: r.stdout,
                            stderr_log: r.stderr,
                            notes: r.notes,
                            flags: r.flags,
                            metrics: r.metrics,
                            missing: r.missing,
                            telemetry: r.telemetry,
                            requests: r.requests,
                            lane: lanes.get(lane).map(|l| (l.index, l.device.clone())),
                        });
                        if let Err(e) = recorded {
                            // Nothing more can be kept: no further attempt starts, and the
                            // trials running (one may just have been handed out) are stopped
                            // now rather than run to an end that could not be stored.
                            failure = Some(e.into());
                            interrupt.store(true, Ordering::Relaxed);
                            stopping = true;
                        }
                    }
                    progress.trial_finished(&TrialEvent {
                        label: &label,
                        attempt,
                        status: status.as_str(),
                        wall,
                        reason: reason.as_deref(),
                        will_retry: !is_final,
                    });
                    if is_final && failure.is_none() {
                        executed += 1;
                    }
                }
                Event::Done { lane, stopped } => {
                    busy[lane] = false;
                    alone = false;
                    if stopped {
                        interrupted = true;
                        stopping = true;
                    }
                }
            }
            if interrupt.load(Ordering::Relaxed) {
                interrupted = true;
                stopping = true;
            }
        }
        // Closing the job channels ends the lane threads; the scope waits for them.
        drop(jobs);
        if let Some((_, mut state, _)) = inline {
            state.slot.clear();
        }
    });
    // Everything recorded reaches the store before the session is closed; after a failure
    // the journal keeps what could not be stored, for the next runner to import.
    if failure.is_none()
        && let Err(e) = writer.finish()
    {
        failure = Some(e.into());
    }
    if let Some(e) = failure {
        return Err(e);
    }
    progress.end();

    let after = store.attempts(run_id)?;
    let finished = plan
        .trials
        .iter()
        .filter(|t| after.get(&plan.key(t)).is_some_and(|(_, f)| *f))
        .count();
    let status = if interrupted {
        "interrupted"
    } else if finished == plan.trials.len() {
        "complete"
    } else {
        "incomplete"
    };
    store.set_run_status(run_id, status)?;
    store.end_session(session, status)?;
    Ok(RunOutcome {
        run_id,
        store: opts.store.clone(),
        executed,
        already_done: done,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: f64) -> (String, MetricValue) {
        (name.into(), builtin(value, "x"))
    }

    #[test]
    fn energy_per_token_is_the_loads_energy_over_its_tokens_or_missing_with_the_reason() {
        let mut metrics = vec![
            m("llm.duration_s", 10.0),
            m("llm.req_s", 2.0),
            m("llm.output_tok_s", 50.0),
            m("window.gpu.energy_j", 100.0),
        ];
        let mut missing = Vec::new();
        derived_llm(&mut metrics, &mut missing);
        let get = |n: &str| metrics.iter().find(|x| x.0 == n).map(|x| x.1.value);
        assert_eq!(get("llm.energy_j_per_output_token"), Some(0.2));
        assert_eq!(get("llm.energy_j_per_request"), Some(5.0));
        assert!(missing.is_empty());

        // No energy: missing, saying why, never 0 or inf.
        let mut metrics = vec![m("llm.duration_s", 10.0), m("llm.req_s", 2.0)];
        let mut missing = vec![(
            "window.gpu.energy_j".to_string(),
            "not supported on this GPU".to_string(),
        )];
        derived_llm(&mut metrics, &mut missing);
        assert_eq!(metrics.len(), 2);
        let why = |n: &str| missing.iter().find(|x| x.0 == n).map(|x| x.1.clone());
        assert_eq!(
            why("llm.energy_j_per_request").as_deref(),
            Some("no GPU energy over the load: not supported on this GPU")
        );
        assert!(why("llm.energy_j_per_output_token").is_some());
    }
}
