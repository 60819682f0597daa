//! The gate before each trial: wait until every sampled GPU is cooler than the limit and
//! runs no compute process, or give up after the timeout with what held it closed.

use crate::define::config::Gate;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one look at the GPUs found: per GPU, its temperature (or why not) and the pids
/// of the compute processes on it (or why not).
pub struct GpuState {
    pub index: u32,
    pub temp_c: Result<u32, crate::machine::Unavailable>,
    pub processes: Result<Vec<u32>, crate::machine::Unavailable>,
}

/// Why the gate is closed, or None when it is open. Pure.
pub fn closed_because(gate: &Gate, gpus: &[GpuState]) -> Option<String> {
    let mut why = Vec::new();
    for g in gpus {
        if let Some(limit) = gate.gpu_temp_below_c {
            match &g.temp_c {
                Ok(t) if (*t as f64) < limit => {}
                Ok(t) => why.push(format!("gpu{} at {t} °C (limit {limit} °C)", g.index)),
                Err(e) => why.push(format!("gpu{} temperature unreadable: {e}", g.index)),
            }
        }
        if gate.no_foreign_processes {
            match &g.processes {
                Ok(p) if p.is_empty() => {}
                Ok(p) => why.push(format!(
                    "gpu{} in use by pid {}",
                    g.index,
                    p.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Err(e) => why.push(format!("gpu{} processes unreadable: {e}", g.index)),
            }
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

pub enum Outcome {
    /// Open; how long it took, and what was waited for (None when open at once).
    Open(Duration, Option<String>),
    TimedOut(String),
    Interrupted,
}

/// Polls `look` until the gate opens, the timeout passes, or `interrupt` is set.
pub fn wait(
    gate: &Gate,
    mut look: impl FnMut() -> Vec<GpuState>,
    interrupt: &AtomicBool,
    poll: Duration,
) -> Outcome {
    let start = Instant::now();
    let mut first_reason = None;
    loop {
        match closed_because(gate, &look()) {
            None => return Outcome::Open(start.elapsed(), first_reason),
            Some(why) => {
                if start.elapsed() >= gate.timeout {
                    return Outcome::TimedOut(format!(
                        "the gate stayed closed for {}: {why}",
                        humantime::format_duration(Duration::from_secs(gate.timeout.as_secs()))
                    ));
                }
                first_reason.get_or_insert(why);
            }
        }
        let until = Instant::now() + poll;
        while Instant::now() < until {
            if interrupt.load(Ordering::Relaxed) {
                return Outcome::Interrupted;
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(timeout_ms: u64) -> Gate {
        Gate {
            gpu_temp_below_c: Some(50.0),
            no_foreign_processes: true,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn state(t: u32, procs: &[u32]) -> Vec<GpuState> {
        vec![GpuState {
            index: 0,
            temp_c: Ok(t),
            processes: Ok(procs.to_vec()),
        }]
    }

    #[test]
    fn names_every_reason_it_is_closed() {
        assert_eq!(closed_because(&gate(0), &state(45, &[])), None);
        let why = closed_because(&gate(0), &state(55, &[123, 456])).unwrap();
        assert_eq!(
            why,
            "gpu0 at 55 °C (limit 50 °C); gpu0 in use by pid 123, 456"
        );
        let unreadable = [GpuState {
            index: 1,
            temp_c: Err("not supported".into()),
            processes: Ok(vec![]),
        }];
        assert!(
            closed_because(&gate(0), &unreadable)
                .unwrap()
                .contains("unreadable")
        );
    }

    #[test]
    fn opens_when_the_gpu_cools_and_times_out_when_it_does_not() {
        let flag = AtomicBool::new(false);
        let mut temps = [60, 55, 49].into_iter();
        match wait(
            &gate(10_000),
            || state(temps.next().unwrap_or(49), &[]),
            &flag,
            Duration::from_millis(1),
        ) {
            Outcome::Open(_, Some(why)) => assert!(why.contains("60 °C")),
            _ => panic!("should open"),
        }
        match wait(
            &gate(30),
            || state(70, &[]),
            &flag,
            Duration::from_millis(5),
        ) {
            Outcome::TimedOut(why) => assert!(why.contains("gpu0 at 70 °C"), "{why}"),
            _ => panic!("should time out"),
        }
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(
            wait(
                &gate(10_000),
                || state(70, &[]),
                &flag,
                Duration::from_millis(50)
            ),
            Outcome::Interrupted
        ));
    }
}
