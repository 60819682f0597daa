//! `rigor stats A.txt B.txt …`: the comparison rigor makes, for numbers you already have.

use super::exit;
use anyhow::{Context, Result, bail};
use rigor::stats::compare::{Direction, Settings};
use rigor::stats::multiple::Correction;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BetterArg {
    Lower,
    Higher,
    Unknown,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CorrectionArg {
    None,
    Bonferroni,
    Holm,
    Bh,
}

#[derive(clap::Args)]
pub struct Args {
    /// Two or more files; each is a sample named after its file stem.
    #[arg(required = true, num_args = 2..)]
    files: Vec<PathBuf>,
    /// The sample the others are compared with (file stem; default: the first file).
    #[arg(long)]
    baseline: Option<String>,
    /// CSV column to read (the files then need a header row).
    #[arg(long)]
    metric: Option<String>,
    /// Which direction is better: for "slower/faster" or "better/worse" wording.
    #[arg(long, value_enum, default_value_t = BetterArg::Lower)]
    better: BetterArg,
    /// The values are durations (verdicts say slower/faster).
    #[arg(long)]
    time: bool,
    /// Significance level (after adjustment).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Relative equivalence margin and smallest effect of interest (0.03 = ±3%).
    #[arg(long, default_value_t = 0.03)]
    margin: f64,
    /// Target power for the trials-needed estimate.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    #[arg(long, value_enum, default_value_t = CorrectionArg::Holm)]
    correction: CorrectionArg,
    /// Bootstrap resamples (where a bootstrap is used).
    #[arg(long, default_value_t = 5000)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Machine-readable output (schema rigor.stats/1, documented in docs/statistics.md).
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let settings = Settings {
        alpha: a.alpha,
        confidence: a.confidence,
        margin: a.margin,
        power: a.power,
        correction: match a.correction {
            CorrectionArg::None => Correction::None,
            CorrectionArg::Bonferroni => Correction::Bonferroni,
            CorrectionArg::Holm => Correction::Holm,
            CorrectionArg::Bh => Correction::BenjaminiHochberg,
        },
        resamples: a.resamples,
        ..Default::default()
    };
    let dir = Direction {
        lower_is_better: match a.better {
            BetterArg::Lower => Some(true),
            BetterArg::Higher => Some(false),
            BetterArg::Unknown => None,
        },
        time: a.time,
    };
    stats_cmd(
        &a.files,
        a.baseline.as_deref(),
        a.metric.as_deref(),
        &settings,
        a.seed,
        dir,
        a.json,
    )
}

fn stats_cmd(
    files: &[PathBuf],
    baseline: Option<&str>,
    metric: Option<&str>,
    settings: &Settings,
    seed: u64,
    dir: Direction,
    json: bool,
) -> Result<ExitCode> {
    // The experiment file's [analysis] is checked by the same rule.
    if let Err((field, why)) = settings.check() {
        bail!("--{}: {why}", field.replace('_', "-"));
    }
    let mut samples = Vec::new();
    for f in files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        if samples.iter().any(|(n, _): &(String, Vec<f64>)| n == &name) {
            bail!("two files are named `{name}`; rename one so the samples can be told apart");
        }
        samples.push((name, rigor::analyse::samples::load(f, metric)?));
    }
    let base = match baseline {
        None => 0,
        Some(b) => samples.iter().position(|(n, _)| n == b).with_context(|| {
            format!(
                "--baseline {b}: no such sample; the samples are: {}",
                samples
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    let r = rigor::analyse::samples::analyze_samples(&samples, base, settings, seed, dir);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(exit::code(exit::OK));
    }
    use rigor::analyse::words::fmt_num;
    use rigor::stats::compare::p_eq;
    println!(
        "sample        n  mean        sd          CV      median      {}% CI of mean         Shapiro–Wilk",
        settings.confidence * 100.0
    );
    for s in &r.samples {
        let m = &s.desc.stats;
        println!(
            "{:<12} {:>3}  {:<10}  {:<10}  {:<6}  {:<10}  {:<22} {}",
            s.name,
            m.n,
            fmt_num(m.mean),
            m.sd.map(fmt_num).unwrap_or_else(|| "—".into()),
            m.cv.map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "—".into()),
            fmt_num(m.median),
            s.desc
                .mean_ci
                .map(|c| format!("[{}, {}]", fmt_num(c[0]), fmt_num(c[1])))
                .unwrap_or_else(|| "—".into()),
            s.desc
                .normality
                .map(|n| format!("W = {:.3}, {}", n.w, p_eq("p", n.p)))
                .unwrap_or_else(|| "—".into()),
        );
    }
    println!();
    for c in &r.comparisons {
        println!("{} vs {}: {}", c.variant, c.baseline, c.result.verdict);
        if let Some(i) = &c.result.inference {
            println!("  test: {}", i.test_reason);
            if let Some(e) = i.effect {
                println!(
                    "  effect: Hedges' g = {:.2} [{:.2}, {:.2}], Cliff's delta = {:.2}; power at ±{}%: {}",
                    e.hedges_g.value,
                    e.hedges_g.ci[0],
                    e.hedges_g.ci[1],
                    e.cliffs_delta,
                    settings.margin * 100.0,
                    i.power_at_margin
                        .map(|p| format!("{:.0}%", p * 100.0))
                        .unwrap_or_else(|| "—".into())
                );
            }
        }
    }
    Ok(exit::code(exit::OK))
}
