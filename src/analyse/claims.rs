//! Pre-registered hypotheses (`[[hypothesis]]`) checked against the trials: each claim is
//! tested with the test that fits it (TOST for equivalence, a one-sided ratio test
//! otherwise), the family of claims is corrected for multiplicity, and each ends supported,
//! refuted, or inconclusive with the number of trials an answer would take. Pure.

use crate::analyse::CellSummary;
use crate::define::config::{Claim, Hypothesis, ParamValue};
use crate::stats::compare::Settings;
use crate::stats::hypothesis::Alternative;
use crate::stats::moments::Moments;
use crate::stats::multiple::adjust;
use crate::stats::power::trials_needed;
use crate::stats::ratio::{fieller, ratio_test, tost_ratio};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimVerdict {
    Supported,
    Refuted,
    Inconclusive,
    /// No test could be run (no trials, no direction, constant values); says why.
    NotTested,
}

impl ClaimVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimVerdict::Supported => "supported",
            ClaimVerdict::Refuted => "refuted",
            ClaimVerdict::Inconclusive => "inconclusive",
            ClaimVerdict::NotTested => "not tested",
        }
    }
}

/// One hypothesis at one workload and sweep point.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    /// The claim in words: "docker is equivalent to native on wall_time (±3%)".
    pub statement: String,
    pub hypothesis: Hypothesis,
    pub workload: Option<String>,
    pub sweep: BTreeMap<String, ParamValue>,
    pub n_variant: usize,
    pub n_baseline: usize,
    pub ratio: Option<f64>,
    pub ratio_ci: Option<[Option<f64>; 2]>,
    /// The test run, in words.
    pub test: String,
    /// p of the claim's test, before and after correction across all claims.
    pub p: Option<f64>,
    pub p_adjusted: Option<f64>,
    /// p of the opposite claim (that the claim is false), before and after correction.
    pub p_against: Option<f64>,
    pub p_against_adjusted: Option<f64>,
    pub verdict: ClaimVerdict,
    /// The verdict with its evidence: "supported: TOST p_adj = 0.002".
    pub detail: String,
    /// Trials per variant that would give `power` to support the claim if the observed
    /// ratio holds (inconclusive claims only).
    pub trials_needed: Option<u64>,
}

fn pct(m: f64) -> String {
    let v = (m * 100.0 * 1e6).round() / 1e6;
    format!("{v}%")
}

fn statement(h: &Hypothesis, baseline: &str) -> String {
    let (v, m) = (&h.variant, &h.metric);
    match h.claim {
        Claim::Equivalent => format!(
            "{v} is equivalent to {baseline} on {m} (±{})",
            pct(h.margin)
        ),
        Claim::Faster | Claim::Slower => {
            let word = if h.claim == Claim::Faster {
                "faster"
            } else {
                "slower"
            };
            if h.margin == 0.0 {
                format!("{v} is {word} than {baseline} on {m}")
            } else {
                format!(
                    "{v} is {word} than {baseline} on {m} by more than {}",
                    pct(h.margin)
                )
            }
        }
        Claim::RatioBelow => format!(
            "{v} / {baseline} on {m} is below {}",
            super::words::fmt_num(1.0 + h.margin)
        ),
    }
}

/// Why a claim cannot be tested: the metric's direction is unknown, or the statistics
/// cannot be computed (too few trials, constant values).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Untestable {
    #[error("{0}")]
    Direction(String),
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
}

/// The bound on the ratio and the side the claim says it lies on (`Less`: below it). For
/// `equivalent`, the upper bound (the lower is 1 − margin).
fn bound(h: &Hypothesis, lower_better: Option<bool>) -> Result<(f64, Alternative), Untestable> {
    let m = h.margin;
    Ok(match h.claim {
        Claim::Equivalent => (1.0 + m, Alternative::TwoSided),
        Claim::RatioBelow => (1.0 + m, Alternative::Less),
        Claim::Faster | Claim::Slower => {
            let lower = lower_better.ok_or_else(|| {
                Untestable::Direction(format!(
                    "`{}` needs to know whether {} is better low or high: declare `better` for the metric",
                    h.claim, h.metric
                ))
            })?;
            // "Better" is a lower ratio for a lower-is-better metric.
            let better_side_low = lower == (h.claim == Claim::Faster);
            if better_side_low {
                (1.0 - m, Alternative::Less)
            } else {
                (1.0 + m, Alternative::Greater)
            }
        }
    })
}

struct Tested {
    p: f64,
    p_against: f64,
    test: String,
    /// Distance, in the metric's units, between the observed difference and what the
    /// claim needs (positive: on the claim's side), and the pooled sd: for the n needed.
    room: f64,
    sd: f64,
}

fn test(
    h: &Hypothesis,
    b: &[f64],
    v: &[f64],
    lower_better: Option<bool>,
) -> Result<Tested, Untestable> {
    let (theta, side) = bound(h, lower_better)?;
    let (mb, mv) = (Moments::of(b), Moments::of(v));
    let sd = mb.pooled_sd(&mv);
    let e = |r: Result<f64, crate::stats::StatsError>| r.map_err(Untestable::from);
    Ok(match side {
        Alternative::TwoSided => {
            let m = h.margin;
            let t = tost_ratio(v, b, m)?;
            let above = e(ratio_test(v, b, 1.0 + m, Alternative::Greater))?;
            let below = e(ratio_test(v, b, 1.0 - m, Alternative::Less))?;
            Tested {
                p: t.p,
                // Outside on either side: two looks, Bonferroni.
                p_against: (2.0 * above.min(below)).min(1.0),
                test: format!(
                    "TOST on the ratio of means within 1 ± {} (Schuirmann; Welch-type one-sided tests)",
                    h.margin
                ),
                room: m * mb.mean.abs() - (mv.mean - mb.mean).abs(),
                sd,
            }
        }
        side => {
            let against = if side == Alternative::Less {
                Alternative::Greater
            } else {
                Alternative::Less
            };
            let word = if side == Alternative::Less {
                "below"
            } else {
                "above"
            };
            let gap = mv.mean - theta * mb.mean;
            Tested {
                p: e(ratio_test(v, b, theta, side))?,
                p_against: e(ratio_test(v, b, theta, against))?,
                test: format!(
                    "one-sided Welch test that the ratio of means is {word} {} (Sasabuchi)",
                    super::words::fmt_num(theta)
                ),
                room: if side == Alternative::Less { -gap } else { gap },
                sd,
            }
        }
    })
}

impl ClaimResult {
    /// A claim with no test run (yet): `detail` says why.
    fn untested(h: &Hypothesis, baseline: &str, detail: String) -> ClaimResult {
        ClaimResult {
            statement: statement(h, baseline),
            hypothesis: h.clone(),
            workload: h.workload.clone(),
            sweep: BTreeMap::new(),
            n_variant: 0,
            n_baseline: 0,
            ratio: None,
            ratio_ci: None,
            test: String::new(),
            p: None,
            p_adjusted: None,
            p_against: None,
            p_against_adjusted: None,
            verdict: ClaimVerdict::NotTested,
            detail,
            trials_needed: None,
        }
    }
}

/// Checks every hypothesis at every workload and sweep point it applies to. `cells` are the
/// analysis's summaries (successful measured trials only).
pub fn check(
    hypotheses: &[Hypothesis],
    cells: &[CellSummary],
    baseline: &str,
    s: &Settings,
) -> Vec<ClaimResult> {
    // Each result with its test, where one ran.
    let mut results: Vec<(ClaimResult, Option<Tested>)> = Vec::new();
    for h in hypotheses {
        let before = results.len();
        for c in cells.iter().filter(|c| {
            c.cell.variant == h.variant
                && h.workload.as_ref().is_none_or(|w| w == &c.cell.workload)
                && c.metrics.contains_key(&h.metric)
        }) {
            let Some(bm) = crate::analyse::baseline_of(cells, c, baseline)
                .and_then(|i| cells[i].metrics.get(&h.metric))
            else {
                continue;
            };
            let vm = &c.metrics[&h.metric];
            let mut r = ClaimResult {
                workload: Some(c.cell.workload.clone()),
                sweep: c.cell.sweep.clone(),
                n_variant: vm.values.len(),
                n_baseline: bm.values.len(),
                ratio: (bm.desc.stats.mean != 0.0).then(|| vm.desc.stats.mean / bm.desc.stats.mean),
                ratio_ci: fieller(&vm.values, &bm.values, s.confidence)
                    .ok()
                    .map(|f| [f.lo, f.hi]),
                ..ClaimResult::untested(h, baseline, String::new())
            };
            let lower =
                crate::analyse::direction(vm.better.as_deref(), vm.unit.as_deref()).lower_is_better;
            let tested = if h.variant == baseline {
                Err(Untestable::Direction(
                    "the claim compares the baseline with itself".to_string(),
                ))
            } else {
                test(h, &bm.values, &vm.values, lower)
            };
            match tested {
                Ok(t) => {
                    r.test = t.test.clone();
                    r.p = Some(t.p);
                    r.p_against = Some(t.p_against);
                    results.push((r, Some(t)));
                }
                Err(why) => {
                    r.detail = format!("not tested: {why}");
                    results.push((r, None));
                }
            }
        }
        if results.len() == before {
            let why = format!(
                "not tested: no successful trials of {} and {baseline} report {}",
                h.variant, h.metric
            );
            results.push((ClaimResult::untested(h, baseline, why), None));
        }
    }
    // All claims are one pre-registered family.
    let tested: Vec<&Tested> = results.iter().filter_map(|(_, t)| t.as_ref()).collect();
    let p: Vec<f64> = tested.iter().map(|t| t.p).collect();
    let pa: Vec<f64> = tested.iter().map(|t| t.p_against).collect();
    let (adj, adj_against) = (adjust(&p, s.correction), adjust(&pa, s.correction));
    let mut k = 0;
    for (r, t) in results.iter_mut() {
        let Some(t) = t else { continue };
        let (adj, adj_against) = (adj[k], adj_against[k]);
        k += 1;
        r.p_adjusted = Some(adj);
        r.p_against_adjusted = Some(adj_against);
        let p_adj = crate::stats::compare::p_eq("p_adj", adj);
        let n = r.n_variant.min(r.n_baseline);
        if adj < s.alpha {
            r.verdict = ClaimVerdict::Supported;
            r.detail = format!("supported: {p_adj}");
        } else if adj_against < s.alpha {
            r.verdict = ClaimVerdict::Refuted;
            r.detail = format!(
                "refuted: the data show the opposite ({})",
                crate::stats::compare::p_eq("p_adj", adj_against)
            );
        } else {
            r.verdict = ClaimVerdict::Inconclusive;
            // One-sided at α is the two-sided power formula at 2α.
            let need = trials_needed(t.room / t.sd, 2.0 * s.alpha, s.power);
            r.trials_needed = need;
            r.detail = match need {
                Some(need) if need as usize > n => format!(
                    "inconclusive ({p_adj}): ~{need} trials per variant would give {:.0}% power if the observed ratio holds (n = {n} now)",
                    s.power * 100.0
                ),
                Some(_) => format!("inconclusive ({p_adj}) at n = {n}"),
                None if t.room <= 0.0 => format!(
                    "inconclusive ({p_adj}): the observed ratio is on the wrong side of the claim, so more trials are unlikely to support it"
                ),
                None => {
                    format!("inconclusive ({p_adj}): more than a million trials would be needed")
                }
            };
        }
    }
    results.into_iter().map(|(r, _)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::MetricSummary;
    use crate::plan::Cell;
    use crate::stats::describe::describe;

    fn cell(variant: &str, values: &[f64], unit: &str, better: Option<&str>) -> CellSummary {
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "t".to_string(),
            MetricSummary {
                unit: Some(unit.into()),
                better: better.map(Into::into),
                desc: describe(values, 0.95).unwrap(),
                values: values.to_vec(),
                missing: 0,
            },
        );
        CellSummary {
            cell: Cell {
                key: format!("{variant}/w"),
                variant: variant.into(),
                workload: "w".into(),
                params: BTreeMap::new(),
                sweep: BTreeMap::new(),
            },
            planned: values.len() as u32,
            ok: values.len() as u32,
            failed: 0,
            metrics,
        }
    }

    fn hyp(claim: Claim, margin: f64) -> Hypothesis {
        Hypothesis {
            metric: "t".into(),
            variant: "b".into(),
            workload: None,
            claim,
            margin,
        }
    }

    const BASE: [f64; 8] = [10.0, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98, 10.0];

    fn shifted(f: f64) -> Vec<f64> {
        BASE.iter().map(|x| x * f).collect()
    }

    fn run(h: Hypothesis, f: f64, unit: &str, better: Option<&str>) -> ClaimResult {
        let cells = vec![
            cell("a", &BASE, unit, better),
            cell("b", &shifted(f), unit, better),
        ];
        check(&[h], &cells, "a", &Settings::default())
            .pop()
            .unwrap()
    }

    #[test]
    fn each_claim_gets_its_verdict() {
        use ClaimVerdict::*;
        let cases = [
            // (claim, margin, variant/baseline, unit, better, verdict)
            (Claim::Faster, 0.0, 0.9, "ms", None, Supported),
            (Claim::Faster, 0.0, 1.1, "ms", None, Refuted),
            (Claim::Faster, 0.0, 1.1, "tok/s", Some("higher"), Supported),
            (Claim::Slower, 0.05, 1.2, "ms", None, Supported),
            (Claim::Equivalent, 0.05, 1.0, "ms", None, Supported),
            (Claim::Equivalent, 0.03, 1.2, "ms", None, Refuted),
            (Claim::RatioBelow, 0.10, 1.0, "ms", None, Supported),
            // A 0.4% bound around a true 0.2% difference at CV ~0.5%: too few trials.
            (Claim::RatioBelow, 0.004, 1.002, "ms", None, Inconclusive),
        ];
        for (claim, margin, f, unit, better, want) in cases {
            let r = run(hyp(claim, margin), f, unit, better);
            assert_eq!(r.verdict, want, "{claim} {margin} at {f}: {}", r.detail);
            if want == Inconclusive {
                assert!(r.trials_needed.unwrap() > 8, "{}", r.detail);
            }
            if claim == Claim::Equivalent {
                assert!(r.test.starts_with("TOST"));
            }
        }
    }

    #[test]
    fn unknown_direction_and_missing_metric_are_not_tested() {
        let r = run(hyp(Claim::Faster, 0.0), 0.9, "widgets", None);
        assert_eq!(r.verdict, ClaimVerdict::NotTested);
        assert!(r.detail.contains("declare `better`"), "{}", r.detail);
        let mut h = hyp(Claim::Faster, 0.0);
        h.metric = "nope".into();
        let cells = vec![cell("a", &BASE, "ms", None), cell("b", &BASE, "ms", None)];
        let r = check(&[h], &cells, "a", &Settings::default())
            .pop()
            .unwrap();
        assert_eq!(r.verdict, ClaimVerdict::NotTested);
        assert!(r.detail.contains("report nope"), "{}", r.detail);
    }
}
