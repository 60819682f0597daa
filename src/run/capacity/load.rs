//! One capacity trial's load, whoever ran it: `rigor capacity URL` runs it in-process
//! (`llm::run`), `rigor capacity FILE` as the experiment's own probe invocation for a
//! cell (its variant's environment, prefix and container), with the level and the seed
//! set on its command line. Both give a [`LoadView`], judged here against the objective.

crate::reason_error!(
    /// Why a capacity trial could not be run or judged.
    LoadError
);

use super::Trial;
use crate::define::objective::{CAP, Objective};
use crate::plan::invocation::Invocation;
use crate::run::workload::llm;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

/// What one load told: its metrics (name, value, unit), what it could not measure and
/// why, and its requests.
#[derive(Debug, Clone, Default)]
pub struct LoadView {
    pub metrics: Vec<(String, f64, String)>,
    pub missing: Vec<(String, String)>,
    pub requests: usize,
    pub ok: usize,
    /// Failed, or still unanswered when the load ended.
    pub unserved: usize,
    /// The server the load started died during it: a trial that cannot be judged.
    pub server_died: Option<String>,
}

impl LoadView {
    pub fn of(out: &llm::Outcome) -> LoadView {
        let s = &out.summary;
        let (metrics, missing) = llm::trial_metrics(s);
        LoadView {
            metrics: metrics
                .into_iter()
                .map(|(n, v, u, _)| (n, v, u.to_string()))
                .collect(),
            missing,
            requests: s.requests,
            ok: s.ok,
            unserved: s.failed + s.cancelled,
            server_died: out.server_died.clone(),
        }
    }

    /// From a probe's stdout: its metric lines and its `llm_counts` line. None without the
    /// counts: the probe did not get as far as a load.
    pub fn from_probe(stdout: &str) -> Option<LoadView> {
        let mut v = LoadView::default();
        let mut counted = false;
        for line in stdout.lines() {
            let Ok(serde_json::Value::Object(o)) = serde_json::from_str(line.trim()) else {
                continue;
            };
            if let Some(c) = o.get("llm_counts") {
                let n = |k: &str| c.get(k).and_then(|x| x.as_u64()).unwrap_or(0) as usize;
                v.requests = n("requests");
                v.ok = n("ok");
                v.unserved = n("failed") + n("cancelled");
                v.server_died = c
                    .get("server_died")
                    .and_then(|x| x.as_str())
                    .map(str::to_string);
                counted = true;
                continue;
            }
            let Some(name) = o.get("metric").and_then(|m| m.as_str()) else {
                continue;
            };
            // A value that is not a finite number (written as text) was not measured.
            match (o.get("value").and_then(|x| x.as_f64()), o.get("missing")) {
                (Some(x), _) => v.metrics.push((
                    name.to_string(),
                    x,
                    o.get("unit")
                        .and_then(|u| u.as_str())
                        .unwrap_or("")
                        .to_string(),
                )),
                (None, Some(why)) => v.missing.push((
                    name.to_string(),
                    why.as_str().unwrap_or("not measured").to_string(),
                )),
                (None, None) => v.missing.push((
                    name.to_string(),
                    format!(
                        "not a finite number: {}",
                        o.get("value").map_or("none".into(), |x| x.to_string())
                    ),
                )),
            }
        }
        counted.then_some(v)
    }

    pub fn value(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.0 == name).map(|m| m.1)
    }
}

/// One trial's `z` and values. A trial that served nothing (or failed more requests than
/// `max_error_rate` allows, or left requests unanswered) broke the objective: it counts as
/// [`CAP`] times over. A metric the load cannot measure at all, or a share of requests (a
/// trial's log ratio to such a limit is bounded on one side, so it could never show the
/// objective holding), is an error.
pub fn judge(
    objective: &Objective,
    load: &LoadView,
    max_error_rate: f64,
) -> Result<Trial, LoadError> {
    if let Some(why) = &load.server_died {
        return Err(LoadError(format!(
            "the server died during the load ({why}): a trial that cannot be judged"
        )));
    }
    let mut values = BTreeMap::new();
    let z = objective
        .z(|name| {
            let short = name.strip_prefix("llm.").unwrap_or(name);
            if let Some(m) = load.metrics.iter().find(|m| m.0 == name) {
                if m.2 == "fraction" {
                    return Err(format!(
                        "`{short}` is a share of requests, whose log ratio to a limit is bounded on one side: hold each request to its limit with a percentile instead, e.g. --objective ttft_ms.p99<=200 --max-error-rate 0.01"
                    )
                    .into());
                }
                values.insert(short.to_string(), m.1);
                return Ok(Some(m.1));
            }
            // `llm.ttft_ms.p99` is missing as `llm.ttft_ms`.
            match load
                .missing
                .iter()
                .find(|m| name == m.0 || name.starts_with(&format!("{}.", m.0)))
            {
                // Nothing served: no latency to judge, and the objective broken.
                Some(_) if load.ok == 0 => Ok(None),
                Some((_, why)) => Err(format!("{short}: not measured: {why}").into()),
                None => {
                    let mut names: Vec<&str> = load
                        .metrics
                        .iter()
                        .filter(|m| m.2 != "fraction")
                        .map(|m| m.0.strip_prefix("llm.").unwrap_or(&m.0))
                        .collect();
                    names.sort();
                    Err(format!(
                        "`{short}` is not a metric of this load; it has {}",
                        names.join(", ")
                    )
                    .into())
                }
            }
        })
        .map_err(|e| LoadError(e.0))?;
    // Requests that failed, or were still unanswered when the load ended, were not served
    // within any objective.
    let z = if load.requests == 0 {
        CAP.ln()
    } else {
        let share = load.unserved as f64 / load.requests as f64;
        values.insert("unserved_fraction".into(), share);
        if share > max_error_rate { CAP.ln() } else { z }
    };
    if load.ok > 0
        && let Some(r) = load.value("llm.req_s")
    {
        values.insert("req_s".into(), r);
    }
    Ok(Trial { z, values })
}

/// Where the probe's own fields begin in `argv`: after `probe llm-serve`, past any
/// variant prefix or container wrapper (whose flags may share a name with a field).
fn fields_start(argv: &[String]) -> Option<usize> {
    argv.windows(2)
        .position(|w| w[0] == "probe" && w[1] == "llm-serve")
        .map(|i| i + 2)
}

/// The value of the probe's field `flag` (`--rate`) in `argv`.
pub fn flag_value<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    let start = fields_start(argv)?;
    let at = argv[start..].iter().position(|a| a == flag)? + start;
    argv.get(at + 1).map(String::as_str)
}

/// `argv` with the value of the probe's field `flag` set to `value` (a probe's fields are
/// `--name value` pairs, every one present).
fn set_flag(argv: &mut [String], flag: &str, value: String) -> Result<(), LoadError> {
    let missing = || LoadError(format!("the probe's command line has no `{flag}`"));
    let start = fields_start(argv).ok_or_else(missing)?;
    let at = argv[start..]
        .iter()
        .position(|a| a == flag)
        .map(|i| i + start)
        .filter(|i| i + 1 < argv.len())
        .ok_or_else(missing)?;
    argv[at + 1] = value;
    Ok(())
}

/// What a probe trial left: its load, and its output for the record (its metric and
/// count lines; the per-request records are left out of its command line).
pub struct ProbeTrial {
    pub load: Option<LoadView>,
    pub stdout: String,
    pub stderr_tail: String,
    pub exit: String,
    /// It exited normally (not killed, timed out or interrupted).
    pub exited: bool,
}

/// Runs a cell's probe invocation once at `level` (a rate, or with `integer` a number of
/// clients) with its prompts drawn from `seed`.
pub fn run_probe(
    inv: &Invocation,
    level: f64,
    integer: bool,
    seed: u64,
    interrupt: &AtomicBool,
) -> Result<ProbeTrial, LoadError> {
    let mut argv = inv.argv.clone();
    if integer {
        set_flag(&mut argv, "--rate", "0".into())?;
        set_flag(&mut argv, "--concurrency", format!("{}", level as u64))?;
    } else {
        set_flag(&mut argv, "--rate", format!("{level}"))?;
    }
    set_flag(&mut argv, "--seed", seed.to_string())?;
    // The journal keeps the probe's output: its metrics, not a line per request.
    set_flag(&mut argv, "--records", "false".into())?;
    let io = |e: std::io::Error| LoadError(format!("the probe's output: {e}"));
    let out = tempfile::tempfile().map_err(io)?;
    let err = tempfile::tempfile().map_err(io)?;
    let done = super::super::exec::execute(&mut super::super::exec::ExecSpec {
        argv: &argv,
        env: &inv.env,
        workdir: &inv.workdir,
        stdout: &out,
        stderr: &err,
        timeout: None,
        interrupt,
        on_start: &mut |_| {},
    })
    .map_err(|e| LoadError(e.to_string()))?;
    let read = |mut f: &std::fs::File| -> Result<String, LoadError> {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().map_err(io)?;
        f.read_to_string(&mut s).map_err(io)?;
        Ok(s)
    };
    let stdout = read(&out)?;
    let stderr = read(&err)?;
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let exited = matches!(done.termination, super::super::exec::Termination::Exited(_));
    // What a killed probe may have left (a container its CLI no longer controls).
    if !exited && let Some(cleanup) = &inv.cleanup {
        let _ = std::process::Command::new(&cleanup[0])
            .args(&cleanup[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    Ok(ProbeTrial {
        exited,
        load: LoadView::from_probe(&stdout),
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        exit: format!("{:?}", done.termination),
        stdout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probes_lines_make_its_load_and_flags_are_set_in_place() {
        let out = r#"{"metric": "llm.ttft_ms.p99", "value": 120.0, "unit": "ms", "better": "lower"}
{"metric": "llm.goodput_fraction", "value": 1.0, "unit": "fraction", "better": "higher"}
{"metric": "llm.tpot_ms", "missing": "every request produced at most one token"}
{"llm_counts": {"requests": 10, "ok": 9, "failed": 1, "cancelled": 0}}
not json"#;
        let v = LoadView::from_probe(out).unwrap();
        assert_eq!((v.requests, v.ok, v.unserved), (10, 9, 1));
        assert_eq!(v.value("llm.ttft_ms.p99"), Some(120.0));
        let o = Objective::parse("ttft_ms.p99<=100").unwrap();
        // One request in ten unserved: within 0.1, over 0.
        assert!((judge(&o, &v, 0.1).unwrap().z - 1.2f64.ln()).abs() < 1e-12);
        assert_eq!(judge(&o, &v, 0.0).unwrap().z, CAP.ln());
        let e = judge(&Objective::parse("tpot_ms.p99<=5").unwrap(), &v, 0.1).unwrap_err();
        assert!(e.0.contains("not measured: every request"), "{e}");
        let e = judge(&Objective::parse("goodput_fraction>=0.9").unwrap(), &v, 0.1).unwrap_err();
        assert!(e.0.contains("share of requests"), "{e}");
        assert!(LoadView::from_probe("{\"metric\": \"x\", \"value\": 1}").is_none());
        // A wrapper's own `--rate` before the probe is left alone.
        let mut argv: Vec<String> = [
            "wrap",
            "--rate",
            "9",
            "rigor",
            "probe",
            "llm-serve",
            "--rate",
            "{rate}",
            "--seed",
            "0",
        ]
        .map(String::from)
        .to_vec();
        set_flag(&mut argv, "--rate", "12.5".into()).unwrap();
        assert_eq!((argv[2].as_str(), argv[7].as_str()), ("9", "12.5"));
        assert_eq!(flag_value(&argv, "--seed"), Some("0"));
        assert!(set_flag(&mut argv, "--concurrency", "3".into()).is_err());
    }
}
