//! Progress of a run: a bar with ETA on a terminal, plain lines otherwise (logs, CI).

use indicatif::{ProgressBar, ProgressStyle};
use rigor::run::progress::{Progress, TrialEvent, human_duration};
use std::io::Write;
use std::time::{Duration, Instant};

fn outcome_text(e: &TrialEvent<'_>) -> String {
    let mut s = e.status.to_string();
    if let Some(w) = e.wall {
        s.push_str(&format!(" in {}", human_duration(w)));
    }
    if let Some(r) = e.reason {
        s.push_str(&format!(": {r}"));
    }
    if e.will_retry {
        s.push_str(" (will retry)");
    }
    s
}

/// Plain lines on stderr with an ETA from this session's pace.
pub struct Lines {
    total: usize,
    done: usize,
    started_with: usize,
    since: Instant,
}

impl Lines {
    pub fn new() -> Self {
        Lines {
            total: 0,
            done: 0,
            started_with: 0,
            since: Instant::now(),
        }
    }
}

impl Default for Lines {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Lines {
    fn begin(&mut self, total: usize, done: usize) {
        self.total = total;
        self.done = done;
        self.started_with = done;
        self.since = Instant::now();
        if done > 0 {
            eprintln!("resuming: {done} of {total} trials already done");
        }
    }
    fn trial_started(&mut self, _label: &str) {}
    fn trial_finished(&mut self, e: &TrialEvent<'_>) {
        if !e.will_retry {
            self.done += 1;
        }
        let ran = self.done - self.started_with;
        let eta = if ran > 0 && self.done < self.total {
            let per = self.since.elapsed() / ran as u32;
            format!(
                ", ETA {}",
                human_duration(per * (self.total - self.done) as u32)
            )
        } else {
            String::new()
        };
        let attempt = if e.attempt > 1 {
            format!(" attempt {}", e.attempt)
        } else {
            String::new()
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "[{}/{}{}] {}{}: {}",
            self.done,
            self.total,
            eta,
            e.label,
            attempt,
            outcome_text(e)
        );
    }
    fn note(&mut self, msg: &str) {
        eprintln!("{msg}");
    }
    fn end(&mut self) {}
    fn grow(&mut self, more: usize) {
        self.total += more;
    }
}

/// An indicatif bar; failures are printed above it so they stay visible.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} trials  {elapsed} elapsed, ETA {eta}  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Bar {
    fn begin(&mut self, total: usize, done: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.reset_eta();
        if done > 0 {
            self.bar
                .println(format!("resuming: {done} of {total} trials already done"));
        }
    }
    fn trial_started(&mut self, label: &str) {
        self.bar.set_message(label.to_string());
    }
    fn trial_finished(&mut self, e: &TrialEvent<'_>) {
        if e.status != "ok" {
            self.bar
                .println(format!("{}: {}", e.label, outcome_text(e)));
        }
        if !e.will_retry {
            self.bar.inc(1);
        }
    }
    fn note(&mut self, msg: &str) {
        self.bar.println(msg);
    }
    fn grow(&mut self, more: usize) {
        self.bar.inc_length(more as u64);
    }
    fn end(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Nothing at all (`--quiet`).
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&mut self, _: usize, _: usize) {}
    fn trial_started(&mut self, _: &str) {}
    fn trial_finished(&mut self, _: &TrialEvent<'_>) {}
    fn note(&mut self, _: &str) {}
    fn end(&mut self) {}
}
