//! Everything rigor says about one sample on its own: the summary, the t-interval of the
//! mean, normality, drift over order and Tukey's outliers. Reports and `rigor stats` show
//! the same description.

use super::ci::t_interval;
use super::descriptive::{Summary, summarize};
use super::normality::{ShapiroWilk, shapiro_wilk};
use super::outliers::{Outliers, tukey};
use super::trend::{MannKendall, mann_kendall};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Description {
    pub stats: Summary,
    /// t-interval of the mean at the analysis confidence; absent below 2 values.
    pub mean_ci: Option<[f64; 2]>,
    /// Shapiro–Wilk; absent below 3 values or for constants.
    pub normality: Option<ShapiroWilk>,
    /// Mann–Kendall trend over the values' order (run order); absent below 3 values or
    /// for constants.
    pub drift: Option<MannKendall>,
    /// Tukey's fences; outliers are listed, never removed.
    pub outliers: Option<Outliers>,
}

/// `values` in run order; `None` when there are none.
pub fn describe(values: &[f64], confidence: f64) -> Option<Description> {
    Some(Description {
        stats: summarize(values)?,
        mean_ci: t_interval(values, confidence).ok(),
        normality: shapiro_wilk(values).ok(),
        drift: mann_kendall(values).ok(),
        outliers: tukey(values),
    })
}
