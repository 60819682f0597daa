//! The sampling threads of a run. During each trial, one thread takes the fast readings at
//! the asked interval and another the slow ones (the energy counter, process lists, /proc
//! scans) every [`SLOW_PERIOD`], so that no slow call ever delays a fast sample. The first
//! sample of each is taken before the trial starts and the last after it ends, by the
//! runner's own thread (the slow thread's boundary samples read only the PCIe and host
//! counters: the rest is too costly to pay twice per trial); in between the threads wake
//! on a fixed schedule (absolute deadlines: no drift). Every reading is stamped with the
//! moment it was taken.

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
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The slow readings' period: scanning /proc costs about a millisecond on a busy server,
/// one energy-counter read ~5 ms on an H100, and none of them changes on a 10 ms scale
/// (a counter loses nothing by being read less often).
pub const SLOW_PERIOD: Duration = Duration::from_millis(100);

/// A trial that starts this soon after the one before ended takes that trial's last
/// counter readings (PCIe bytes, the host's) as its first, instead of reading them again:
/// back to back, the two readings would be a few hundred microseconds apart, and one PCIe
/// read costs ~0.6 ms on an H200. The counters then also span the runner's bookkeeping
/// between the two trials, in which rigor moves nothing over PCIe or the network.
pub const CARRY_MAX: Duration = Duration::from_millis(2);

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

/// One sampling thread. The first and last samples of a trial are taken by the caller, in
/// `begin` and `end`, under the lock: handing them to the thread and waiting for its answer
/// cost a short trial two thread switches each way, more than the samples themselves. The
/// thread takes the samples in between, on its schedule, and `end` never waits for it
/// unless it is in the middle of one.
struct Worker {
    shared: Arc<(Mutex<State>, Condvar)>,
    handle: Option<JoinHandle<()>>,
    template: Recording,
}

struct State {
    readings: Box<dyn Readings>,
    rec: Recording,
    /// A trial is being sampled.
    active: bool,
    /// Counts trials, so that a thread waking late never samples into the next one.
    generation: u64,
    start: Instant,
    pgid: Arc<AtomicI32>,
    /// When the trial's schedule started (its first sample), and the samples so far.
    t0: Instant,
    last: Instant,
    cost_total: f64,
    gaps: Vec<f64>,
    period_ms: f64,
    /// The run is over: the thread returns.
    closed: bool,
}

/// What one thread reads at each of its samples.
trait Readings: Send {
    /// `last`: the trial has ended (its processes are reaped).
    fn sample(&mut self, rec: &mut Recording, start: Instant, pgid: i32, last: bool);
    /// A new trial begins.
    fn reset(&mut self, rec: &mut Recording);
    /// Nothing to read at all (no GPU for the fast thread).
    fn idle(&self) -> bool {
        false
    }
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
    proc: host::HostReader,
    /// pid → (ours, name), decided once per trial.
    owners: HashMap<u32, (bool, Option<String>)>,
    /// The thread ticks at the PCIe counters' period; the other slow readings are taken
    /// at its first tick and every `every` ticks after. The trial's first and last samples,
    /// taken on the runner's thread, read only the counters that must bracket the trial
    /// (PCIe bytes, the host's): an energy read there cost ~3 ms a boundary on an H200,
    /// most of a short trial's overhead; the energy counter's edges are filled from the
    /// power samples instead (see `summary::energy_edges`).
    every: u64,
    tick: u64,
    /// The last trial's final counter readings, for the next trial to start from.
    carry: Option<Carried>,
}

/// Readings of a trial's last sample: (series, unit, kind, when, value).
struct Carried {
    at: Instant,
    points: Vec<(String, String, Kind, Instant, f64)>,
}

impl Worker {
    /// A thread that samples trials with `readings` every `period` between their first and
    /// last samples.
    fn spawn(
        name: &str,
        period: Duration,
        template: Recording,
        readings: Box<dyn Readings>,
    ) -> Result<Worker, TelemetryError> {
        let idle = readings.idle();
        let now = Instant::now();
        let shared = Arc::new((
            Mutex::new(State {
                readings,
                rec: Recording::default(),
                active: false,
                generation: 0,
                start: now,
                pgid: Arc::new(AtomicI32::new(0)),
                t0: now,
                last: now,
                cost_total: 0.0,
                gaps: Vec::new(),
                period_ms: period.as_secs_f64() * 1e3,
                closed: false,
            }),
            Condvar::new(),
        ));
        let handle = if idle {
            None
        } else {
            let shared = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || schedule(&shared, period))
                    .map_err(|e| format!("cannot start the telemetry thread: {e}"))?,
            )
        };
        Ok(Worker {
            shared,
            handle,
            template,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while sampling leaves readings that are still plain data.
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The trial's first sample, taken now; the thread samples from here on.
    fn begin(&self, pgid: &Arc<AtomicI32>, start: Instant) {
        let mut st = self.lock();
        let mut rec = self.template.clone();
        st.readings.reset(&mut rec);
        let t0 = Instant::now();
        st.readings
            .sample(&mut rec, start, pgid.load(Ordering::Relaxed), false);
        let cost = t0.elapsed().as_secs_f64() * 1e3;
        rec.sample_ms_max = cost;
        rec.ticks = 1;
        st.rec = rec;
        st.cost_total = cost;
        st.gaps.clear();
        st.t0 = t0;
        st.last = t0;
        st.start = start;
        st.pgid = pgid.clone();
        st.active = true;
        st.generation += 1;
    }

    /// The trial's last sample, taken now, and its recording. The thread is not woken: it
    /// finds the trial over at its next deadline.
    fn end(&self) -> Recording {
        let mut st = self.lock();
        let st = &mut *st;
        if !st.active {
            return Recording {
                gpu_unavailable: Some("the telemetry sampler was not running".into()),
                ..Default::default()
            };
        }
        let now = Instant::now();
        // Longer than a period since the thread's last sample: a gap of the schedule (a
        // starved or stopped thread), not just the trial ending between two ticks.
        let since = now.duration_since(st.last).as_secs_f64() * 1e3;
        if since > st.period_ms {
            st.gaps.push(since);
        }
        let pgid = st.pgid.load(Ordering::Relaxed);
        st.readings.sample(&mut st.rec, st.start, pgid, true);
        let cost = now.elapsed().as_secs_f64() * 1e3;
        st.active = false;
        let mut rec = std::mem::take(&mut st.rec);
        st.cost_total += cost;
        rec.sample_ms_max = rec.sample_ms_max.max(cost);
        rec.ticks += 1;
        rec.sample_ms_mean = st.cost_total / rec.ticks as f64;
        // The last sample is taken at once when the trial ends: not a gap of the schedule.
        if !st.gaps.is_empty() {
            let gaps = &mut st.gaps;
            gaps.sort_by(f64::total_cmp);
            rec.max_gap_ms = gaps[gaps.len() - 1];
            rec.gap_ms_median = Some(crate::stats::percentile(gaps, 50.0));
            rec.gap_ms_p99 = Some(crate::stats::percentile(gaps, 99.0));
        }
        rec
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.1.notify_one();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The thread: looks every period for a trial to sample, then samples it on a fixed
/// schedule from its first sample (absolute deadlines, no drift) until `end` marks it over.
/// `begin` does not wake it: a wake-up per trial cost a short trial more than a sample, and
/// a trial shorter than a period gets no sample from the thread anyway.
fn schedule(shared: &(Mutex<State>, Condvar), period: Duration) {
    let (lock, wake) = shared;
    let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut done = 0u64;
    loop {
        while (!st.active || st.generation == done) && !st.closed {
            st = wake
                .wait_timeout(st, period)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if st.closed {
            return;
        }
        let generation = st.generation;
        done = generation;
        let mut next = st.t0 + period;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                st = wake
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if st.closed || !st.active || st.generation != generation {
                break;
            }
            if Instant::now() < next {
                continue; // woken early (a spurious wake-up)
            }
            let now = Instant::now();
            let st_ = &mut *st;
            let pgid = st_.pgid.load(Ordering::Relaxed);
            st_.readings.sample(&mut st_.rec, st_.start, pgid, false);
            let cost = now.elapsed().as_secs_f64() * 1e3;
            st_.cost_total += cost;
            st_.rec.sample_ms_max = st_.rec.sample_ms_max.max(cost);
            st_.rec.ticks += 1;
            st_.gaps
                .push(now.duration_since(st_.last).as_secs_f64() * 1e3);
            st_.last = now;
            next += period;
            // Fell behind by more than a period: resume the schedule from now.
            if next + period < Instant::now() {
                next = Instant::now() + period;
            }
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
    fn idle(&self) -> bool {
        self.readers.is_empty() && !self.host
    }

    fn reset(&mut self, rec: &mut Recording) {
        self.owners.clear();
        self.tick = 0;
        for r in &self.readers {
            r.carry_unsupported(rec);
        }
    }

    fn sample(&mut self, rec: &mut Recording, start: Instant, pgid: i32, last: bool) {
        if self.tick == 0
            && !last
            && let Some(c) = self.carry.take()
            && c.at.elapsed() <= CARRY_MAX
        {
            for (name, unit, kind, at, v) in c.points {
                // Taken before this trial's clock started: a (slightly) negative time.
                let t = match at.checked_duration_since(start) {
                    Some(d) => d.as_secs_f64(),
                    None => -start.duration_since(at).as_secs_f64(),
                };
                rec.series
                    .entry(name)
                    .or_insert_with(|| crate::trial::Series::new(&unit, kind))
                    .push(t, v);
            }
            self.tick += 1;
            return;
        }
        let from = start.elapsed().as_secs_f64();
        for r in self.readers.iter_mut() {
            r.sample_pcie(rec, start);
        }
        let boundary = self.tick == 0 || last;
        let due = !boundary && (self.tick - 1).is_multiple_of(self.every);
        self.tick += 1;
        if !due && !boundary {
            return;
        }
        let owners = &mut self.owners;
        if due {
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
            let (cpu, net) = (self.proc.cpu(), self.proc.net());
            let mem = self
                .proc
                .meminfo()
                .map(|(t, a)| (t - a.min(t)) as f64 / 1024.0);
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
        if last {
            // What this last sample read (the process tree's memory is the trial's own).
            let points: Vec<_> = rec
                .series
                .iter()
                .filter(|(name, s)| {
                    name.as_str() != "host.rss_tree_mib" && s.t.last().is_some_and(|&t| t >= from)
                })
                .filter_map(|(name, s)| {
                    let (t, v) = (*s.t.last()?, *s.v.last()?);
                    Some((
                        name.clone(),
                        s.unit.clone(),
                        s.kind,
                        start + Duration::from_secs_f64(t.max(0.0)),
                        v,
                    ))
                })
                .collect();
            // Only a complete set is carried: a counter this sample failed to read would
            // otherwise start the next trial late, and be short.
            let expected = 2 * self
                .readers
                .iter_mut()
                .map(|r| usize::from(r.has_pcie_counters()))
                .sum::<usize>()
                + if self.host { 5 } else { 0 };
            self.carry = (points.len() == expected).then(|| Carried {
                at: Instant::now(),
                points,
            });
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
        let mut readers = open(sources.nvml, &sources.gpus).0;
        let pcie = sources.settings.pcie;
        for r in &mut readers {
            r.pcie = pcie;
        }
        let slow_period = SLOW_PERIOD.max(interval);
        // With GPUs, the thread ticks at the PCIe counters' period.
        let tick = if readers.is_empty() || !pcie {
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
                proc: host::HostReader::open(),
                owners: HashMap::new(),
                every: (slow_period.as_nanos() / tick.as_nanos()).max(1) as u64,
                tick: 0,
                carry: None,
            }),
        )?;
        Ok(Sampler { fast, slow })
    }

    /// Starts sampling a trial; returns once both threads took their first sample. `pgid`
    /// is the trial's process group, set when it starts (0 before).
    /// Returns the instant the series' clock starts from.
    pub fn begin(&mut self, pgid: Arc<AtomicI32>) -> Instant {
        let start = Instant::now();
        // The slow readings first: the fast ones' first sample is then the nearer the trial.
        self.slow.begin(&pgid, start);
        self.fast.begin(&pgid, start);
        start
    }

    /// Takes the last samples and returns the trial's recording: the fast thread's, with
    /// the slow thread's readings merged in.
    pub fn end(&mut self) -> Recording {
        let mut rec = self.fast.end();
        let slow = self.slow.end();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_to_back_trials_start_from_the_last_ones_counters() {
        let sources = Sources::open(&Telemetry {
            gpu: GpuTelemetry::Off,
            ..Telemetry::default()
        });
        let mut sampler = Sampler::spawn(&sources).unwrap();
        let pgid = Arc::new(AtomicI32::new(0));
        let name = "host.cpu_total_ticks";
        sampler.begin(pgid.clone());
        let mut before = sampler.end().series[name].clone();
        // Back to back: the first reading is the last trial's, taken before this trial
        // began. A thread preempted past CARRY_MAX reads afresh, so several pairs are tried.
        let mut carried = 0;
        for _ in 0..20 {
            sampler.begin(pgid.clone());
            let rec = sampler.end();
            let s = &rec.series[name];
            assert_eq!(s.t.len(), 2);
            if s.t[0] < 0.0 {
                assert_eq!(s.v[0], *before.v.last().unwrap());
                carried += 1;
            }
            assert!(!rec.series.contains_key("host.rss_tree_mib"));
            before = s.clone();
        }
        assert!(carried > 0, "no trial started from the last one's readings");

        // After a pause longer than CARRY_MAX: read afresh.
        std::thread::sleep(CARRY_MAX * 3);
        sampler.begin(pgid.clone());
        let third = sampler.end();
        assert!(third.series[name].t[0] >= 0.0);
    }
}
