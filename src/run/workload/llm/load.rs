//! The load: a fixed number of concurrent clients, or requests arriving at a rate (Poisson,
//! gamma with a burstiness factor, or constant), optionally under a concurrency cap;
//! bounded by a request count or a duration. Arrival times are drawn from the seed before
//! the load starts.

use super::client::{self, Prompt, Target};
use super::http::{ConnStats, HttpError, Origin, Pool};
use super::metrics::RequestRecord;
use crate::run::window::Mark;
use rand::SeedableRng;
use rand_distr::Distribution;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    Poisson,
    /// Gamma-distributed gaps with shape = burstiness (1 is Poisson; < 1 burstier), as vLLM.
    Gamma(f64),
    Constant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// This many clients, each sending its next request when the last one ends.
    Concurrency(usize),
    Rate {
        per_s: f64,
        arrival: Arrival,
        max_concurrency: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub load: Load,
    /// Measured requests (after the warm-up ones); None: until `duration`.
    pub requests: Option<usize>,
    pub duration: Option<Duration>,
    pub warmup: usize,
    /// With a duration: how long requests in flight when it ends may still finish.
    pub grace: Duration,
    pub seed: u64,
    /// Turns per conversation (1: independent requests) and the pause between them.
    pub turns: u32,
    pub think: Duration,
}

/// Offsets (s) of `n` arrivals at `per_s` per second.
pub fn arrivals(n: usize, per_s: f64, arrival: Arrival, seed: u64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(n);
    let gamma = match arrival {
        Arrival::Poisson => rand_distr::Gamma::new(1.0, 1.0 / per_s).ok(),
        Arrival::Gamma(k) => rand_distr::Gamma::new(k, 1.0 / (per_s * k)).ok(),
        Arrival::Constant => None,
    };
    for _ in 0..n {
        out.push(t);
        t += match &gamma {
            Some(g) => g.sample(&mut rng),
            None => 1.0 / per_s,
        };
    }
    out
}

/// Runs the load; every request is returned, ok, failed or cancelled, in the order it was
/// issued, with how the connections were used. `mark` is told when the first measured
/// request is sent and when the last request has ended: the load's window.
pub async fn run(
    target: Arc<Target>,
    prompts: Arc<Vec<Prompt>>,
    plan: Plan,
    mark: Option<Mark>,
    schedule: Option<Vec<f64>>,
) -> Result<(Vec<RequestRecord>, ConnStats), HttpError> {
    let origin_url = Origin::parse(&target.base_url, target.ca_pem.as_deref())?;
    let path =
        http::HeaderValue::from_str(&origin_url.path(target.endpoint.path())).map_err(|e| {
            HttpError::Url {
                url: target.base_url.clone(),
                why: e.to_string(),
            }
        })?;
    let pool = Arc::new(Pool::new(origin_url));
    let total = plan.requests.map(|n| n + plan.warmup);
    // Bodies are built before timing starts.
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
        prompts
            .iter()
            .map(|p| bytes::Bytes::from(client::body(&target, p)))
            .collect(),
    );
    let origin = Instant::now();
    let deadline = plan.duration.map(|d| origin + d);
    // Requests still in flight this long after the duration ends are cancelled.
    let cancel_at = deadline.map(|d| d + plan.grace);
    let warmup = plan.warmup;
    let opened = Arc::new(AtomicBool::new(false));
    let begin = {
        let (mark, opened) = (mark.clone(), opened.clone());
        move |i: usize| {
            if i == warmup
                && let Some(m) = &mark
            {
                m(true);
                opened.store(true, Ordering::SeqCst);
            }
        }
    };
    let record = move |i: usize, scheduled: Instant| RequestRecord {
        index: i,
        warmup: i < warmup,
        scheduled_s: scheduled.duration_since(origin).as_secs_f64(),
        ..Default::default()
    };
    let mut handles = Vec::new();
    let mut out = Vec::new();
    match plan.load {
        Load::Concurrency(c) if plan.turns > 1 => {
            // Each client holds one conversation at a time: its turns in order, each body
            // built when its turn comes (it carries the answers so far), a think time
            // between. Warm-up is whole conversations (`warmup` is a multiple of `turns`),
            // all finished before a measured one starts, so that measured first turns never
            // meet a cold server; the window opens at the first measured send.
            let turns = plan.turns as usize;
            let warm = warmup / turns;
            let think = plan.think;
            for (first, last) in [(0, Some(warm)), (warm, None)] {
                if last == Some(0) {
                    continue;
                }
                let next = Arc::new(AtomicUsize::new(first));
                let mut phase = Vec::new();
                for _ in 0..c.max(1) {
                    let (pool, path, target, prompts, next) = (
                        pool.clone(),
                        path.clone(),
                        target.clone(),
                        prompts.clone(),
                        next.clone(),
                    );
                    let (mark, opened) = (mark.clone(), opened.clone());
                    phase.push(tokio::spawn(async move {
                        let mut mine = Vec::new();
                        'conversations: loop {
                            let conv = next.fetch_add(1, Ordering::Relaxed);
                            if last.is_some_and(|l| conv >= l) {
                                break;
                            }
                            let mut history: Vec<(String, String)> = Vec::new();
                            for t in 0..turns {
                                let i = conv * turns + t;
                                if t > 0 && !think.is_zero() {
                                    // Never past the end of a duration-bound load.
                                    let wake = deadline.map_or(Instant::now() + think, |d| {
                                        d.min(Instant::now() + think)
                                    });
                                    tokio::time::sleep_until(wake.into()).await;
                                }
                                if total.is_some_and(|n| i >= n)
                                    || deadline.is_some_and(|d| Instant::now() >= d)
                                {
                                    break 'conversations;
                                }
                                let p = &prompts[i % prompts.len()];
                                let body =
                                    bytes::Bytes::from(client::body_after(&target, p, &history));
                                if i >= warmup
                                    && !opened.swap(true, Ordering::SeqCst)
                                    && let Some(m) = &mark
                                {
                                    m(true);
                                }
                                let mut r = record(i, Instant::now());
                                r.conversation = Some(conv);
                                r.turn = Some(t as u32 + 1);
                                let mut done =
                                    client::send(&pool, &path, &target, body, origin, cancel_at, r)
                                        .await;
                                let failed = !done.ok();
                                let cut = done.cancelled();
                                history.push((p.text.clone(), std::mem::take(&mut done.reply)));
                                mine.push(done);
                                if !failed {
                                    continue;
                                }
                                // A failed turn ends its conversation: the next would carry
                                // a history the server never produced. Its later turns are
                                // kept as never sent, unless the load itself was ending.
                                if !cut && deadline.is_none_or(|d| Instant::now() < d) {
                                    for later in t + 1..turns {
                                        let j = conv * turns + later;
                                        if total.is_some_and(|n| j >= n) {
                                            break;
                                        }
                                        let mut r = record(j, Instant::now());
                                        r.conversation = Some(conv);
                                        r.turn = Some(later as u32 + 1);
                                        r.error = Some("cancelled".into());
                                        r.message = Some(format!(
                                            "not sent: turn {} of its conversation failed",
                                            t + 1
                                        ));
                                        r.end_s = r.scheduled_s;
                                        mine.push(r);
                                    }
                                }
                                break;
                            }
                        }
                        mine
                    }));
                }
                if last.is_some() {
                    // The warm-up conversations end before the measured ones begin.
                    for h in phase {
                        out.extend(h.await.map_err(|e| HttpError::Task(e.to_string()))?);
                    }
                } else {
                    handles.extend(phase);
                }
            }
        }
        Load::Concurrency(c) => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..c.max(1) {
                let (pool, path, target, bodies, next, begin) = (
                    pool.clone(),
                    path.clone(),
                    target.clone(),
                    bodies.clone(),
                    next.clone(),
                    begin.clone(),
                );
                handles.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if total.is_some_and(|t| i >= t)
                            || deadline.is_some_and(|d| Instant::now() >= d)
                        {
                            break;
                        }
                        let body = bodies[i % bodies.len()].clone();
                        begin(i);
                        let r = record(i, Instant::now());
                        mine.push(
                            client::send(&pool, &path, &target, body, origin, cancel_at, r).await,
                        );
                    }
                    mine
                }));
            }
        }
        Load::Rate {
            per_s,
            arrival,
            max_concurrency,
        } => {
            // With only a duration, draw enough arrivals to outlast it (a trace: all of it).
            let n = total
                .or(schedule.as_ref().map(Vec::len))
                .unwrap_or_else(|| {
                    let secs = plan.duration.map_or(60.0, |d| d.as_secs_f64());
                    ((per_s * secs * 2.0) as usize + 100).min(10_000_000)
                });
            // A trace's own offsets, or arrivals drawn from the seed.
            let at = match schedule {
                Some(s) => s.into_iter().take(n).collect(),
                None => arrivals(n, per_s, arrival, plan.seed),
            };
            let cap = max_concurrency.map(|m| Arc::new(tokio::sync::Semaphore::new(m.max(1))));
            // Finished requests are collected as the load goes on: a finished task that is
            // never joined keeps its allocation, sized for the whole request's future (a few KB),
            // and a sustained load at 14 requests/s grew by 4.5 KiB a request (bench/gpu,
            // issue 17). Now only the records themselves accumulate.
            // tokio's timer has a 1 ms granularity and rounds up: each send sleeps to just
            // before its arrival, then polls until it, so that sends are on time to
            // microseconds, not to the next ms. The polling spins a core for at most 1 ms a
            // request and a fifth of the mean gap (5% of a core at 50 req/s, 20% from 200).
            let spin = Duration::from_secs_f64((0.2 / per_s).min(0.001));
            let mut set = tokio::task::JoinSet::new();
            for (i, offset) in at.into_iter().enumerate() {
                let Ok(after) = Duration::try_from_secs_f64(offset) else {
                    break;
                };
                let when = origin + after;
                if deadline.is_some_and(|d| when >= d) {
                    break;
                }
                let coarse = when.checked_sub(spin).unwrap_or(when);
                tokio::time::sleep_until(coarse.into()).await;
                while Instant::now() < when {
                    tokio::task::yield_now().await;
                }
                let permit = match &cap {
                    // The semaphore is never closed, so acquiring cannot fail.
                    Some(s) => s.clone().acquire_owned().await.ok(),
                    None => None,
                };
                let (pool, path, target) = (pool.clone(), path.clone(), target.clone());
                let body = bodies[i % bodies.len()].clone();
                begin(i);
                let r = record(i, when);
                set.spawn(async move {
                    let out = client::send(&pool, &path, &target, body, origin, cancel_at, r).await;
                    drop(permit);
                    out
                });
                while let Some(done) = set.try_join_next() {
                    out.push(done.map_err(|e| HttpError::Task(e.to_string()))?);
                }
            }
            while let Some(done) = set.join_next().await {
                // A task that panicked took its request with it: say so rather than lose it.
                out.push(done.map_err(|e| HttpError::Task(e.to_string()))?);
            }
        }
    }
    for h in handles {
        // A task that panicked took its requests with it: say so rather than lose them.
        out.extend(h.await.map_err(|e| HttpError::Task(e.to_string()))?);
    }
    if opened.load(Ordering::SeqCst)
        && let Some(m) = &mark
    {
        m(false);
    }
    out.sort_by_key(|r| r.index);
    Ok((out, pool.stats()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_have_the_requested_rate_and_burstiness() {
        let n = 20_000;
        let gaps = |a: &[f64]| a.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
        let cv = |g: &[f64]| {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            let v = g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (g.len() - 1) as f64;
            (m, v.sqrt() / m)
        };
        let (m, c) = cv(&gaps(&arrivals(n, 10.0, Arrival::Poisson, 1)));
        assert!(
            (m - 0.1).abs() < 0.003 && (c - 1.0).abs() < 0.03,
            "poisson mean {m} cv {c}"
        );
        // Gamma shape k: CV = 1/sqrt(k).
        let (m, c) = cv(&gaps(&arrivals(n, 10.0, Arrival::Gamma(0.25), 1)));
        assert!(
            (m - 0.1).abs() < 0.006 && (c - 2.0).abs() < 0.1,
            "gamma mean {m} cv {c}"
        );
        let a = arrivals(5, 4.0, Arrival::Constant, 1);
        assert_eq!(a, [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            arrivals(100, 3.0, Arrival::Poisson, 9),
            arrivals(100, 3.0, Arrival::Poisson, 9)
        );
    }
}
