//! What the runner says about its progress, to whoever shows it: the command line draws a
//! bar or prints lines (`cli::progress`); the library never prints.

use std::time::Duration;

/// What the runner tells about one finished attempt.
pub struct TrialEvent<'a> {
    pub label: &'a str,
    pub attempt: u32,
    pub status: &'a str,
    pub wall: Option<Duration>,
    pub reason: Option<&'a str>,
    pub will_retry: bool,
}

pub trait Progress {
    /// `total` trials in the plan, `done` of them finished before this session.
    fn begin(&mut self, total: usize, done: usize);
    fn trial_started(&mut self, label: &str);
    fn trial_finished(&mut self, e: &TrialEvent<'_>);
    fn note(&mut self, msg: &str);
    fn end(&mut self);
    /// `more` trials were added to the run (an adaptive round).
    fn grow(&mut self, more: usize) {
        let _ = more;
    }
}

pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.2} s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}
