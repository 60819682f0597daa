//! Adjusted p-values for a family of comparisons, as statsmodels' `multipletests`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    None,
    /// Family-wise error rate, p·m.
    Bonferroni,
    /// Family-wise error rate, step-down (Holm 1979); uniformly more powerful than Bonferroni.
    Holm,
    /// False discovery rate (Benjamini & Hochberg 1995).
    #[serde(alias = "bh", alias = "fdr")]
    BenjaminiHochberg,
}

impl Correction {
    pub fn name(self) -> &'static str {
        match self {
            Correction::None => "no",
            Correction::Bonferroni => "Bonferroni",
            Correction::Holm => "Holm",
            Correction::BenjaminiHochberg => "Benjamini–Hochberg",
        }
    }
}

pub fn adjust(p: &[f64], method: Correction) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![0.0; m];
    let mf = m as f64;
    match method {
        Correction::None => out.copy_from_slice(p),
        Correction::Bonferroni => {
            for (o, &v) in out.iter_mut().zip(p) {
                *o = (v * mf).min(1.0);
            }
        }
        Correction::Holm => {
            let mut running: f64 = 0.0;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max((mf - rank as f64) * p[i]);
                out[i] = running.min(1.0);
            }
        }
        Correction::BenjaminiHochberg => {
            let mut running: f64 = 1.0;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min(mf / (rank + 1) as f64 * p[i]);
                out[i] = running.min(1.0);
            }
        }
    }
    out
}
