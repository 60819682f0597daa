//! Statistics: pure functions over trial-level values, no I/O.
//!
//! The inferential methods (confidence intervals, tests, effect sizes) plug in beside
//! [`descriptive`]; [`crate::analysis`] is the only caller and decides what to apply.

pub mod descriptive;

pub use descriptive::{Summary, percentile, summarize};
