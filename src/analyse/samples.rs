//! `rigor stats`: the comparison rigor makes, for numbers a user already has (one number
//! per line, or a column of a CSV file), so older harnesses' results can be re-analysed.
//!
//! Loading is I/O; [`analyze_samples`] is pure.

use crate::stats::compare::{Compared, Direction, Settings, conclude, infer};
use crate::stats::describe::{Description, describe};
use rand::SeedableRng;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}:{line}: `{text}` is not a number{hint}")]
    NotANumber {
        path: PathBuf,
        line: usize,
        text: String,
        hint: String,
    },
    #[error("{path}: no column `{metric}`; the columns are: {columns}")]
    NoColumn {
        path: PathBuf,
        metric: String,
        columns: String,
    },
    #[error("{0}: no numbers in the file")]
    Empty(PathBuf),
    #[error("{0}: {1}")]
    Csv(PathBuf, String),
}

/// Values from `path`: with `metric`, that column of a CSV file with a header row;
/// otherwise one number per line (blank lines and lines starting with `#` are skipped).
pub fn load(path: &Path, metric: Option<&str>) -> Result<Vec<f64>, SampleError> {
    let text = std::fs::read_to_string(path).map_err(|e| SampleError::Io(path.into(), e))?;
    let values = match metric {
        Some(m) => column(path, &text, m)?,
        None => {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => out.push(v),
                    _ => {
                        return Err(SampleError::NotANumber {
                            path: path.into(),
                            line: i + 1,
                            text: t.chars().take(60).collect(),
                            hint: if t.contains(',') {
                                "; for a CSV file, name the column with --metric".into()
                            } else {
                                String::new()
                            },
                        });
                    }
                }
            }
            out
        }
    };
    if values.is_empty() {
        return Err(SampleError::Empty(path.into()));
    }
    Ok(values)
}

fn column(path: &Path, text: &str, metric: &str) -> Result<Vec<f64>, SampleError> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| SampleError::Csv(path.into(), e.to_string()))?
        .clone();
    let Some(col) = headers.iter().position(|h| h.trim() == metric) else {
        return Err(SampleError::NoColumn {
            path: path.into(),
            metric: metric.into(),
            columns: headers.iter().collect::<Vec<_>>().join(", "),
        });
    };
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| SampleError::Csv(path.into(), e.to_string()))?;
        let cell = rec.get(col).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => out.push(v),
            _ => {
                return Err(SampleError::NotANumber {
                    path: path.into(),
                    line: i + 2,
                    text: cell.into(),
                    hint: format!(" (column `{metric}`)"),
                });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    pub name: String,
    #[serde(flatten)]
    pub desc: Description,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComparisonReport {
    pub variant: String,
    pub baseline: String,
    #[serde(flatten)]
    pub result: Compared,
}

/// The `--json` output of `rigor stats` (schema `rigor.stats/1`, docs/statistics.md).
#[derive(Debug, Clone, Serialize)]
pub struct StatsReport {
    pub schema: &'static str,
    pub settings: Settings,
    pub lower_is_better: Option<bool>,
    pub samples: Vec<SampleReport>,
    pub comparisons: Vec<ComparisonReport>,
}

/// Every sample against `baseline` (an index into `samples`).
pub fn analyze_samples(
    samples: &[(String, Vec<f64>)],
    baseline: usize,
    settings: &Settings,
    seed: u64,
    dir: Direction,
) -> StatsReport {
    let reports = samples
        .iter()
        .filter_map(|(name, v)| {
            Some(SampleReport {
                name: name.clone(),
                desc: describe(v, settings.confidence)?,
            })
        })
        .collect();
    let (bname, bvals) = &samples[baseline];
    let mut comparisons: Vec<ComparisonReport> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != baseline)
        .map(|(i, (name, v))| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(i as u64));
            ComparisonReport {
                variant: name.clone(),
                baseline: bname.clone(),
                result: infer(bvals, v, settings, &mut rng).into(),
            }
        })
        .collect();
    let mut family: Vec<(&str, Direction, &mut Compared)> = comparisons
        .iter_mut()
        .map(|c| (c.variant.as_str(), dir, &mut c.result))
        .collect();
    conclude(&mut family, settings);
    StatsReport {
        schema: "rigor.stats/1",
        settings: settings.clone(),
        lower_is_better: dir.lower_is_better,
        samples: reports,
        comparisons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_csv_columns_load_and_bad_values_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, "# times\n1.5\n\n2.5\n").unwrap();
        assert_eq!(load(&a, None).unwrap(), vec![1.5, 2.5]);
        let c = dir.path().join("c.csv");
        std::fs::write(&c, "run,time_s\n1,0.5\n2,0.7\n").unwrap();
        assert_eq!(load(&c, Some("time_s")).unwrap(), vec![0.5, 0.7]);
        let e = load(&c, Some("time")).unwrap_err().to_string();
        assert!(e.contains("run, time_s"), "{e}");
        let e = load(&c, None).unwrap_err().to_string();
        assert!(e.contains("c.csv:1") && e.contains("--metric"), "{e}");
        std::fs::write(&a, "1\nNaN\n").unwrap();
        assert!(load(&a, None).unwrap_err().to_string().contains("a.txt:2"));
    }
}
