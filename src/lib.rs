//! rigor: statistically rigorous performance experiments.
//!
//! Data flow: [`config`] (experiment file) → [`plan`] (cells × trials in order) →
//! [`runner`] (executes trials, commits each to the [`store`]) → [`analysis`] → [`report`].

// Experiment-file errors carry their location and snippet; they are built once, on the cold
// path, so boxing them would buy nothing.
#![allow(clippy::result_large_err)]

pub mod adaptive;
pub mod analysis;
pub mod claims;
pub mod compare;
pub mod config;
pub mod envinfo;
pub mod environment;
pub mod exec;
pub mod gpu;
pub mod invocation;
pub mod llm;
pub mod logs;
pub mod metrics;
pub mod netns;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod report;
pub mod runlock;
pub mod runner;
pub mod samples;
pub mod slurm;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod template;
