//! Outliers by Tukey's fences (Tukey 1977): mild beyond 1.5 IQR from the quartiles,
//! severe beyond 3 IQR. Reported, never dropped: the caller decides what a reader sees.

use super::descriptive::percentile;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fences {
    pub q1: f64,
    pub q3: f64,
    pub iqr: f64,
    pub mild: [f64; 2],
    pub severe: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outliers {
    pub fences: Fences,
    /// Positions in the input of values outside the mild fences but inside the severe ones.
    pub mild: Vec<usize>,
    /// Positions of values outside the severe fences.
    pub severe: Vec<usize>,
}

pub fn fences(values: &[f64]) -> Option<Fences> {
    if values.is_empty() {
        return None;
    }
    // On rescaled values; a fence beyond f64's range is f64's largest value, which no
    // value passes, so it flags nothing, as an unbounded fence would.
    let k = super::scale::factor(&[values]);
    let mut s = super::scale::scaled(values, k).into_owned();
    s.sort_by(f64::total_cmp);
    let (q1, q3) = (percentile(&s, 25.0), percentile(&s, 75.0));
    let iqr = q3 - q1;
    let back = |v: f64| (v / k).clamp(f64::MIN, f64::MAX);
    Some(Fences {
        q1: back(q1),
        q3: back(q3),
        iqr: back(iqr),
        mild: [back(q1 - 1.5 * iqr), back(q3 + 1.5 * iqr)],
        severe: [back(q1 - 3.0 * iqr), back(q3 + 3.0 * iqr)],
    })
}

pub fn tukey(values: &[f64]) -> Option<Outliers> {
    let f = fences(values)?;
    let outside = |v: f64, b: [f64; 2]| v < b[0] || v > b[1];
    let severe = (0..values.len())
        .filter(|&i| outside(values[i], f.severe))
        .collect();
    let mild = (0..values.len())
        .filter(|&i| outside(values[i], f.mild) && !outside(values[i], f.severe))
        .collect();
    Some(Outliers {
        fences: f,
        mild,
        severe,
    })
}
