//! The sampling threads of a run. During each trial, one thread takes the fast readings at
//! the asked interval and another the slow ones (the energy counter, process lists, /proc
//! scans) every [`SLOW_PERIOD`], so that no slow call ever delays a fast sample. Each
//! takes its first sample before the trial starts and its last after it ends; in between
//! it wakes on a fixed schedule (absolute deadlines: no drift) and is woken at once to
//! stop. Every reading is stamped with the moment it was taken.

crate::reason_error!(
    /// Why the sampler cannot start or follow a trial (its thread is gone).
    TelemetryError
);

use super::nvml_source::GpuReader;
use super::{GpuProcess, Kind, Recording, SampledGpu, host};
use crate::define::config::{GpuTelemetry, Telemetry};
use nvml_wrapper::Nvml;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The slow readings' period: scanning /proc costs about a millisecond on a busy server,
/// one energy-counter read ~5 ms on an H100, and none of them changes on a 10 ms scale
/// (a counter loses nothing by being read less often).
pub const SLOW_PERIOD: Duration = Duration::from_millis(100);

/// What can be sampled on this machine, opened once per run.
#[derive(Clone)]
pub struct Sources {
    pub settings: Telemetry,
    nvml: Option<&'static Nvml>,
    /// NVML indices of the GPUs sampled.
    pub gpus: Vec<u32>,
    /// Why GPUs are not sampled, when GPU telemetry is not off.
    pub gpu_unavailable: Option<String>,
}

impl Sources {
    pub fn open(settings: &Telemetry) -> Sources {
        let mut s = Sources {
            settings: settings.clone(),
            nvml: None,
            gpus: Vec::new(),
            gpu_unavailable: None,
        };
        if settings.gpu == GpuTelemetry::Off {
            return s;
        }
        let nvml = match crate::machine::gpu::shared() {
            Ok(n) => n,
            Err(e) => {
                s.gpu_unavailable = Some(e.to_string());
                return s;
            }
        };
        let count = match nvml.device_count() {
            Ok(c) => c,
            Err(e) => {
                s.gpu_unavailable = Some(format!("NVML cannot count GPUs: {e}"));
                return s;
            }
        };
        if settings.gpus.is_empty() {
            s.gpus = (0..count).collect();
        } else {
            for g in &settings.gpus {
                let index = match g.parse::<u32>() {
                    Ok(i) if i < count => Ok(i),
                    Ok(i) => Err(format!("GPU {i} does not exist (NVML sees {count})")),
                    Err(_) => nvml
                        .device_by_uuid(g.as_str())
                        .and_then(|d| d.index())
                        .map_err(|e| format!("no GPU with UUID {g}: {e}")),
                };
                match index {
                    Ok(i) => s.gpus.push(i),
                    Err(e) => {
                        s.gpu_unavailable = Some(e);
                        return s;
                    }
                }
            }
        }
        if s.gpus.is_empty() {
            s.gpu_unavailable = Some("NVML sees no GPU".into());
            return s;
        }
        s.nvml = Some(nvml);
        s
    }

    /// What a lane samples: its own GPU only (a CPU lane keeps the run's GPUs).
    pub fn for_lane(&self, gpu: Option<u32>) -> Sources {
        let mut s = self.clone();
        if let Some(g) = gpu
            && s.nvml.is_some()
        {
            s.gpus = vec![g];
        }
        s
    }

    pub fn nvml(&self) -> Option<&'static Nvml> {
        self.nvml
    }

    /// Whether anything is sampled at all.
    pub fn active(&self) -> bool {
        self.settings.host || self.nvml.is_some()
    }
}

/// The sampling threads of a run: idle between trials, sampling during each one. Threads
/// for the whole run, because spawning them per trial (a stack mapping each time) cost a
/// short trial more than all its samples.
pub struct Sampler {
    fast: Worker,
    slow: Worker,
}

/// One sampling thread and its two channels.
struct Worker {
    commands: mpsc::Sender<Command>,
    recordings: mpsc::Receiver<Recording>,
    handle: Option<JoinHandle<()>>,
}

enum Command {
    Begin {
        pgid: Arc<AtomicI32>,
        start: Instant,
    },
    End,
}

/// What one thread reads at each of its samples.
trait Readings: Send {
    /// `last`: the trial has ended (its processes are reaped).
    fn sample(&mut self, rec: &mut Recording, start: Instant, pgid: i32, last: bool);
    /// A new trial begins.
    fn reset(&mut self, rec: &mut Recording);
}

/// The fast GPU readings.
struct Fast {
    readers: Vec<GpuReader<'static>>,
    open_errors: Vec<(String, String)>,
}

/// The slow readings: counters (energy, PCIe bytes), memory temperature, GPU process
/// lists, the host.
struct Slow {
    readers: Vec<GpuReader<'static>>,
    host: bool,
    /// pid → (ours, name), decided once per trial.
    owners: HashMap<u32, (bool, Option<String>)>,
    /// The thread ticks at the PCIe counters' period; the other slow readings are taken
    /// every `every` ticks (and on the first and last).
    every: u64,
    tick: u64,
}

impl Worker {
    /// A thread that opens its NVML devices once and samples trials with `readings`.
    fn spawn(
        name: &str,
        period: Duration,
        template: Recording,
        mut readings: Box<dyn Readings>,
    ) -> Result<Worker, TelemetryError> {
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
        let (rec_tx, rec_rx) = mpsc::channel::<Recording>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(cmd) = cmd_rx.recv() {
                    let Command::Begin { pgid, start } = cmd else {
                        continue;
                    };
                    let mut rec = template.clone();
                    readings.reset(&mut rec);
                    trial(
                        readings.as_mut(),
                        &mut rec,
                        start,
                        &pgid,
                        period,
                        &cmd_rx,
                        &rec_tx,
                    );
                    if rec_tx.send(rec).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the telemetry thread: {e}"))?;
        Ok(Worker {
            commands: cmd_tx,
            recordings: rec_rx,
            handle: Some(handle),
        })
    }

    fn begin(&self, pgid: &Arc<AtomicI32>, start: Instant) -> Result<(), TelemetryError> {
        self.commands
            .send(Command::Begin {
                pgid: pgid.clone(),
                start,
            })
            .map_err(|_| "the telemetry thread has stopped".to_string())?;
        Ok(())
    }

    /// The ready signal (an empty recording) after the first sample.
    fn ready(&self) -> Result<(), TelemetryError> {
        self.recordings
            .recv()
            .map(|_| ())
            .map_err(|_| "the telemetry thread has stopped".into())
    }

    fn end(&self) -> Recording {
        let _ = self.commands.send(Command::End);
        self.recordings.recv().unwrap_or_else(|_| Recording {
            gpu_unavailable: Some("the telemetry thread failed".into()),
            ..Default::default()
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (dead, _) = mpsc::channel();
        self.commands = dead;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The devices of `gpus`, each with its own reader (a reader remembers what its GPU does
/// not support), and what could not be opened.
fn open(
    nvml: Option<&'static Nvml>,
    gpus: &[u32],
) -> (Vec<GpuReader<'static>>, Vec<(String, String)>) {
    let mut readers = Vec::new();
    let mut errors = Vec::new();
    if let Some(nvml) = nvml {
        for &i in gpus {
            match nvml.device_by_index(i) {
                Ok(d) => readers.push(GpuReader::new(i, d)),
                Err(e) => errors.push((format!("gpu{i}"), format!("NVML: {e}"))),
            }
        }
    }
    (readers, errors)
}

impl Readings for Fast {
    fn reset(&mut self, rec: &mut Recording) {
        for r in &self.readers {
            r.carry_unsupported(rec);
        }
        rec.unavailable.extend(self.open_errors.iter().cloned());
    }

    fn sample(&mut self, rec: &mut Recording, start: Instant, _pgid: i32, _last: bool) {
        for r in &mut self.readers {
            r.sample_fast(rec, start);
        }
    }
}

impl Readings for Slow {
    fn reset(&mut self, rec: &mut Recording) {
        self.owners.clear();
        self.tick = 0;
        for r in &self.readers {
            r.carry_unsupported(rec);
        }
    }

    fn sample(&mut self, rec: &mut Recording, start: Instant, pgid: i32, last: bool) {
        for r in self.readers.iter_mut() {
            r.sample_pcie(rec, start);
        }
        let due = self.tick.is_multiple_of(self.every) || last;
        self.tick += 1;
        if !due {
            return;
        }
        let owners = &mut self.owners;
        {
            for r in self.readers.iter_mut() {
                r.sample_slow(rec, start);
                let t0 = Instant::now();
                let procs = r.processes();
                *rec.cost_ms.entry("nvml.processes".into()).or_default() +=
                    t0.elapsed().as_secs_f64() * 1e3;
                match procs {
                    Ok(list) => {
                        for (pid, mem) in list {
                            let (ours, name) = owners
                                .entry(pid)
                                .or_insert_with(|| {
                                    // A pid not visible here (another namespace) is not the trial's.
                                    (pgid > 0 && host::in_trial(pid, pgid), host::comm_of(pid))
                                })
                                .clone();
                            match rec
                                .processes
                                .iter_mut()
                                .find(|p| p.gpu == r.index && p.pid == pid)
                            {
                                Some(p) => {
                                    p.mem_mib = match (p.mem_mib, mem) {
                                        (Some(a), Some(b)) => Some(a.max(b)),
                                        (a, b) => a.or(b),
                                    }
                                }
                                None => rec.processes.push(GpuProcess {
                                    gpu: r.index,
                                    pid,
                                    name,
                                    mem_mib: mem,
                                    ours,
                                }),
                            }
                        }
                    }
                    Err(e) => {
                        rec.unavailable
                            .entry(format!("gpu{}.processes", r.index))
                            .or_insert_with(|| format!("NVML: {e}"));
                    }
                }
            }
        }
        if self.host {
            let t0 = Instant::now();
            let t = start.elapsed().as_secs_f64();
            let mut put = |name: &str,
                           unit: &str,
                           kind: Kind,
                           r: Result<f64, crate::machine::Unavailable>| {
                rec.record(name.to_string(), unit, kind, t, r)
            };
            let (cpu, net) = (host::read_cpu(), host::read_net());
            let mem = host::read_meminfo().map(|(t, a)| (t - a.min(t)) as f64 / 1024.0);
            let first =
                |r: &Result<(u64, u64), crate::machine::Unavailable>| r.clone().map(|x| x.0 as f64);
            let second =
                |r: &Result<(u64, u64), crate::machine::Unavailable>| r.clone().map(|x| x.1 as f64);
            put("host.cpu_busy_ticks", "ticks", Kind::Counter, first(&cpu));
            put("host.cpu_total_ticks", "ticks", Kind::Counter, second(&cpu));
            put("host.mem_used_mib", "MiB", Kind::Gauge, mem);
            put("host.net_rx_bytes", "B", Kind::Counter, first(&net));
            put("host.net_tx_bytes", "B", Kind::Counter, second(&net));
            // Before the trial's process exists, and after it is reaped, there is no tree.
            if pgid > 0 && !last {
                let rss = host::group_rss_kib(pgid).map(|k| k as f64 / 1024.0);
                if !matches!(rss, Ok(0.0)) {
                    put("host.rss_tree_mib", "MiB", Kind::Gauge, rss);
                }
            }
            *rec.cost_ms.entry("host".into()).or_default() += t0.elapsed().as_secs_f64() * 1e3;
        }
    }
}

impl Sampler {
    /// Starts the run's sampling threads; NVML devices are opened once on each.
    pub fn spawn(sources: &Sources) -> Result<Sampler, TelemetryError> {
        let gpu_unavailable = if sources.settings.gpu == GpuTelemetry::On {
            sources.gpu_unavailable.clone()
        } else {
            None
        };
        let mut sampled = Vec::new();
        if let Some(nvml) = sources.nvml {
            for &i in &sources.gpus {
                if let Ok(d) = nvml.device_by_index(i) {
                    sampled.push(SampledGpu {
                        index: i,
                        name: d.name().ok(),
                        uuid: d.uuid().ok(),
                    });
                }
            }
        }
        let interval = sources.settings.interval;
        let template = Recording {
            interval_ms: interval.as_secs_f64() * 1e3,
            gpu_unavailable,
            gpus: sampled,
            ..Default::default()
        };
        let fast = Worker::spawn("rigor-telemetry", interval, template.clone(), {
            let (readers, open_errors) = open(sources.nvml, &sources.gpus);
            Box::new(Fast {
                readers,
                open_errors,
            })
        })?;
        let readers = open(sources.nvml, &sources.gpus).0;
        let slow_period = SLOW_PERIOD.max(interval);
        // With GPUs, the thread ticks at the PCIe counters' period.
        let tick = if readers.is_empty() {
            slow_period
        } else {
            super::nvml_source::PCIE_PERIOD
        };
        let slow = Worker::spawn(
            "rigor-telemetry-slow",
            tick,
            Recording::default(),
            Box::new(Slow {
                readers,
                host: sources.settings.host,
                owners: HashMap::new(),
                every: (slow_period.as_nanos() / tick.as_nanos()).max(1) as u64,
                tick: 0,
            }),
        )?;
        Ok(Sampler { fast, slow })
    }

    /// Starts sampling a trial; returns once both threads took their first sample. `pgid`
    /// is the trial's process group, set when it starts (0 before).
    /// Returns the instant the series' clock starts from.
    pub fn begin(&mut self, pgid: Arc<AtomicI32>) -> Result<Instant, TelemetryError> {
        let start = Instant::now();
        self.fast.begin(&pgid, start)?;
        self.slow.begin(&pgid, start)?;
        self.fast.ready()?;
        self.slow.ready()?;
        Ok(start)
    }

    /// Takes the last samples and returns the trial's recording: the fast thread's, with
    /// the slow thread's readings merged in.
    pub fn end(&mut self) -> Recording {
        let _ = self.slow.commands.send(Command::End);
        let mut rec = self.fast.end();
        let slow = self.slow.recordings.recv().unwrap_or_default();
        rec.series.extend(slow.series);
        for (k, v) in slow.unavailable {
            rec.unavailable.entry(k).or_insert(v);
        }
        rec.processes = slow.processes;
        for (k, v) in slow.cost_ms {
            *rec.cost_ms.entry(k).or_default() += v;
        }
        rec.slow_ticks = slow.ticks;
        rec.slow_max_gap_ms = slow.max_gap_ms;
        rec
    }
}

/// Samples one trial on one thread: the first sample, a ready signal (an empty
/// recording), then samples on schedule until `End`.
fn trial(
    readings: &mut dyn Readings,
    rec: &mut Recording,
    start: Instant,
    pgid: &AtomicI32,
    period: Duration,
    commands: &mpsc::Receiver<Command>,
    ready: &mpsc::Sender<Recording>,
) {
    let t0 = Instant::now();
    readings.sample(rec, start, pgid.load(Ordering::Relaxed), false);
    let mut cost_total = t0.elapsed().as_secs_f64() * 1e3;
    rec.sample_ms_max = cost_total;
    rec.ticks = 1;
    let _ = ready.send(Recording::default());
    let mut gaps = Vec::new();
    let mut last = t0;
    let mut next = t0 + period;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let stop = !matches!(
            commands.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let now = Instant::now();
        readings.sample(rec, start, pgid.load(Ordering::Relaxed), stop);
        let cost = now.elapsed().as_secs_f64() * 1e3;
        cost_total += cost;
        rec.sample_ms_max = rec.sample_ms_max.max(cost);
        rec.ticks += 1;
        rec.sample_ms_mean = cost_total / rec.ticks as f64;
        // The last sample is taken at once when the trial ends: not a gap of the schedule.
        if !stop {
            gaps.push(now.duration_since(last).as_secs_f64() * 1e3);
        }
        last = now;
        if stop {
            break;
        }
        next += period;
        // Fell behind by more than a period: resume the schedule from now.
        if next + period < Instant::now() {
            next = Instant::now() + period;
        }
    }
    if !gaps.is_empty() {
        gaps.sort_by(f64::total_cmp);
        rec.max_gap_ms = gaps[gaps.len() - 1];
        rec.gap_ms_median = Some(crate::stats::percentile(&gaps, 50.0));
        rec.gap_ms_p99 = Some(crate::stats::percentile(&gaps, 99.0));
    }
}
