//! The sampling thread of one trial. It takes its first sample before the trial starts
//! and its last after the trial ends; in between it wakes on a fixed schedule (no drift:
//! deadlines are absolute) and is woken at once to stop.

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

/// Host readings and GPU process lists are taken at most this often: scanning /proc costs
/// about a millisecond on a busy server, and neither changes on a 10 ms scale.
const SLOW_PERIOD: Duration = Duration::from_millis(100);

/// What can be sampled on this machine, opened once per run.
pub struct Sources {
    pub settings: Telemetry,
    nvml: Option<Arc<Nvml>>,
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
        let nvml = match crate::machine::gpu::nvml() {
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
        s.nvml = Some(Arc::new(nvml));
        s
    }

    pub fn nvml(&self) -> Option<&Arc<Nvml>> {
        self.nvml.as_ref()
    }

    /// Whether anything is sampled at all.
    pub fn active(&self) -> bool {
        self.settings.host || self.nvml.is_some()
    }
}

/// The sampling thread of a run: idle between trials, sampling during each one. One thread
/// for the whole run, because spawning one per trial (a stack mapping each time) cost a
/// short trial more than all its samples.
pub struct Sampler {
    commands: mpsc::Sender<Command>,
    recordings: mpsc::Receiver<Recording>,
    handle: Option<JoinHandle<()>>,
}

enum Command {
    Begin(Arc<AtomicI32>),
    End,
}

struct Tick<'n> {
    start: Instant,
    host: bool,
    readers: Vec<GpuReader<'n>>,
    pgid: Arc<AtomicI32>,
    /// pid → (ours, name), decided once per trial.
    owners: HashMap<u32, (bool, Option<String>)>,
}

impl Tick<'_> {
    /// `last`: the trial has ended (its processes are reaped), so there is no tree to scan.
    fn sample(&mut self, rec: &mut Recording, slow: bool, last: bool) {
        let t = self.start.elapsed().as_secs_f64();
        for r in &mut self.readers {
            r.sample(rec, t, slow);
        }
        if !slow {
            return;
        }
        let pgid = self.pgid.load(Ordering::Relaxed);
        for r in &self.readers {
            let t0 = Instant::now();
            let procs = r.processes();
            *rec.cost_ms.entry("nvml.processes".into()).or_default() +=
                t0.elapsed().as_secs_f64() * 1e3;
            match procs {
                Ok(list) => {
                    for (pid, mem) in list {
                        let (ours, name) = self
                            .owners
                            .entry(pid)
                            .or_insert_with(|| {
                                let g = host::pgrp_of(pid);
                                // A pid not visible here (another namespace) is not the trial's.
                                (pgid > 0 && g == Some(pgid), host::comm_of(pid))
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
        if self.host {
            let t0 = Instant::now();
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
    /// Starts the run's sampling thread; NVML devices are opened once, here.
    pub fn spawn(sources: &Sources) -> Result<Sampler, TelemetryError> {
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
        let (rec_tx, rec_rx) = mpsc::channel::<Recording>();
        let nvml = sources.nvml.clone();
        let gpus = sources.gpus.clone();
        let interval = sources.settings.interval;
        let host = sources.settings.host;
        let gpu_unavailable = if sources.settings.gpu == GpuTelemetry::On {
            sources.gpu_unavailable.clone()
        } else {
            None
        };
        let handle = std::thread::Builder::new()
            .name("rigor-telemetry".into())
            .spawn(move || {
                let mut sampled = Vec::new();
                let mut readers = Vec::new();
                let mut open_errors = Vec::new();
                if let Some(nvml) = nvml.as_deref() {
                    for i in gpus {
                        match nvml.device_by_index(i) {
                            Ok(d) => {
                                sampled.push(SampledGpu {
                                    index: i,
                                    name: d.name().ok(),
                                    uuid: d.uuid().ok(),
                                });
                                readers.push(GpuReader::new(i, d));
                            }
                            Err(e) => open_errors.push((format!("gpu{i}"), format!("NVML: {e}"))),
                        }
                    }
                }
                let mut tick = Tick {
                    start: Instant::now(),
                    host,
                    readers,
                    pgid: Arc::new(AtomicI32::new(0)),
                    owners: HashMap::new(),
                };
                while let Ok(cmd) = cmd_rx.recv() {
                    let Command::Begin(pgid) = cmd else { continue };
                    let mut rec = Recording {
                        interval_ms: interval.as_secs_f64() * 1e3,
                        gpu_unavailable: gpu_unavailable.clone(),
                        gpus: sampled.clone(),
                        unavailable: open_errors.iter().cloned().collect(),
                        ..Default::default()
                    };
                    tick.pgid = pgid;
                    tick.owners.clear();
                    tick.start = Instant::now();
                    trial(&mut tick, &mut rec, interval, &cmd_rx, &rec_tx);
                    if rec_tx.send(rec).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the telemetry thread: {e}"))?;
        Ok(Sampler {
            commands: cmd_tx,
            recordings: rec_rx,
            handle: Some(handle),
        })
    }

    /// Starts sampling a trial; returns once the first sample is taken. `pgid` is the
    /// trial's process group, set when it starts (0 before).
    pub fn begin(&mut self, pgid: Arc<AtomicI32>) -> Result<(), TelemetryError> {
        self.commands
            .send(Command::Begin(pgid))
            .map_err(|_| "the telemetry thread has stopped".to_string())?;
        // The first sample's empty recording-in-progress signal: see `trial`.
        match self.recordings.recv() {
            Ok(_) => Ok(()),
            Err(_) => Err("the telemetry thread has stopped".into()),
        }
    }

    /// Takes the last sample and returns the trial's recording.
    pub fn end(&mut self) -> Recording {
        let _ = self.commands.send(Command::End);
        self.recordings.recv().unwrap_or_else(|_| Recording {
            gpu_unavailable: Some("the telemetry thread failed".into()),
            ..Default::default()
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (dead, _) = mpsc::channel();
        self.commands = dead;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Samples one trial: the first sample, a ready signal (an empty recording), then samples on
/// schedule until `End`.
fn trial(
    tick: &mut Tick<'_>,
    rec: &mut Recording,
    interval: Duration,
    commands: &mpsc::Receiver<Command>,
    ready: &mpsc::Sender<Recording>,
) {
    let start = tick.start;
    tick.sample(rec, true, false);
    let mut cost_total = start.elapsed().as_secs_f64() * 1e3;
    rec.sample_ms_max = cost_total;
    rec.ticks = 1;
    let _ = ready.send(Recording::default());
    let mut last = Instant::now();
    let mut last_slow = last;
    let mut next = start + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let stop = !matches!(
            commands.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let now = Instant::now();
        let slow = stop || now.duration_since(last_slow) >= SLOW_PERIOD;
        tick.sample(rec, slow, stop);
        let cost = now.elapsed().as_secs_f64() * 1e3;
        cost_total += cost;
        rec.sample_ms_max = rec.sample_ms_max.max(cost);
        rec.ticks += 1;
        rec.sample_ms_mean = cost_total / rec.ticks as f64;
        rec.max_gap_ms = rec
            .max_gap_ms
            .max(now.duration_since(last).as_secs_f64() * 1e3);
        last = now;
        if slow {
            last_slow = now;
        }
        if stop {
            break;
        }
        next += interval;
        // Fell behind by more than a period: resume the schedule from now.
        if next + interval < Instant::now() {
            next = Instant::now() + interval;
        }
    }
}
