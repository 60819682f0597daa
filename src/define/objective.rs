//! What `rigor capacity` holds a load level to: limits on a trial's metrics, such as
//! `ttft_ms.p99<=200,tpot_ms.p99<=50` or `goodput_fraction>=0.99`.

crate::reason_error!(
    /// Why an objective cannot be read, or cannot be judged on a trial.
    ObjectiveError
);

use serde::Serialize;

/// A trial's distance from a limit is capped at this many times over it (ln 100 on the log
/// scale): a trial that served nothing is far over, not infinitely so.
pub const CAP: f64 = 100.0;
/// And floored at this many times under it: only a metric of 0 reaches it. Below the
/// limit, the measured ratio itself is kept: a level far under its limit still shows its
/// trials' spread, which the tests need.
pub const FLOOR: f64 = 1e9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// The metric must be at most the limit.
    AtMost,
    /// The metric must be at least the limit.
    AtLeast,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clause {
    /// A trial metric of `llm-serve`, without its `llm.` prefix.
    pub metric: String,
    pub op: Op,
    pub limit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub clauses: Vec<Clause>,
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|c| {
                let op = match c.op {
                    Op::AtMost => "<=",
                    Op::AtLeast => ">=",
                };
                format!("{}{op}{}", c.metric, c.limit)
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Objective {
    /// `NAME<=LIMIT` or `NAME>=LIMIT`, comma-separated.
    pub fn parse(s: &str) -> Result<Objective, ObjectiveError> {
        let mut clauses = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, op, limit) = if let Some((n, l)) = part.split_once("<=") {
                (n, Op::AtMost, l)
            } else if let Some((n, l)) = part.split_once(">=") {
                (n, Op::AtLeast, l)
            } else {
                return Err(format!(
                    "`{part}`: write NAME<=LIMIT or NAME>=LIMIT, e.g. ttft_ms.p99<=200"
                )
                .into());
            };
            let name = name.trim();
            let metric = name.strip_prefix("llm.").unwrap_or(name);
            if metric.is_empty() {
                return Err(format!("`{part}`: no metric name before the operator").into());
            }
            let limit: f64 = limit
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the limit `{}` is not a number", limit.trim()))?;
            if limit <= 0.0 || !limit.is_finite() {
                return Err(format!(
                    "`{part}`: a limit must be above 0 (a trial's distance from it is a ratio)"
                )
                .into());
            }
            clauses.push(Clause {
                metric: metric.to_string(),
                op,
                limit,
            });
        }
        if clauses.is_empty() {
            return Err("no objective: give at least one, e.g. ttft_ms.p99<=200".into());
        }
        Ok(Objective { clauses })
    }

    /// A trial's `z`: its worst clause's log ratio to the limit (positive: over it), within
    /// [−ln [`FLOOR`], ln [`CAP`]]. `value` looks a metric up by its full name (`llm.ttft_ms.p99`):
    /// Ok(None) when the trial measured no such value because none of its requests
    /// succeeded (the trial broke the objective), Err when the metric cannot be measured
    /// by this load at all, or does not exist.
    pub fn z(
        &self,
        mut value: impl FnMut(&str) -> Result<Option<f64>, ObjectiveError>,
    ) -> Result<f64, ObjectiveError> {
        let cap = CAP.ln();
        let mut worst = f64::NEG_INFINITY;
        for c in &self.clauses {
            let z = match value(&format!("llm.{}", c.metric))? {
                None => cap,
                Some(v) if v.is_nan() => cap,
                Some(v) => {
                    let r = match c.op {
                        Op::AtMost => (v / c.limit).ln(),
                        Op::AtLeast => (c.limit / v).ln(),
                    };
                    r.clamp(-FLOOR.ln(), cap)
                }
            };
            worst = worst.max(z);
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_parse_and_bad_ones_say_why() {
        let o = Objective::parse("ttft_ms.p99<=200, llm.goodput_fraction>=0.99").unwrap();
        assert_eq!(o.clauses.len(), 2);
        assert_eq!(o.clauses[1].metric, "goodput_fraction");
        assert_eq!(o.to_string(), "ttft_ms.p99<=200,goodput_fraction>=0.99");
        for (bad, says) in [
            ("ttft_ms.p99<200", "NAME<=LIMIT"),
            ("ttft_ms.p99<=fast", "not a number"),
            ("error_rate<=0", "above 0"),
            ("<=3", "no metric"),
            ("", "no objective"),
        ] {
            let e = Objective::parse(bad).unwrap_err().0;
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_worst_clause_decides_and_nothing_is_infinite() {
        let o = Objective::parse("ttft_ms.p99<=200,goodput_fraction>=0.5").unwrap();
        let z = o
            .z(|n| {
                Ok(Some(match n {
                    "llm.ttft_ms.p99" => 100.0,
                    _ => 1.0,
                }))
            })
            .unwrap();
        assert!((z - 0.5f64.ln()).abs() < 1e-12);
        // Nothing served: far over. A goodput of 0: far over, not infinitely.
        assert_eq!(o.z(|_| Ok(None)).unwrap(), CAP.ln());
        assert_eq!(o.z(|_| Ok(Some(0.0))).unwrap(), CAP.ln());
        // Far under a limit is kept as measured, not capped.
        let o = Objective::parse("e2e_ms.p99<=60000").unwrap();
        let z = o.z(|_| Ok(Some(30.0))).unwrap();
        assert!((z - (30.0f64 / 60000.0).ln()).abs() < 1e-12);
        assert!(o.z(|_| Err("no such metric".to_string().into())).is_err());
    }
}
