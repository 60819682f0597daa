//! The integration tests, one binary (linking rigor and its dependencies once): the real
//! `rigor` binary on real files, processes and servers.

mod cli;
mod common;
mod derived;
mod dialects;
mod diff;
mod docs;
mod environments;
mod history;
mod import;
mod lanes;
mod layers;
mod llm_serve;
mod report_html;
mod slurm;
mod snapshots;
mod stats_extremes;
mod stats_golden;
mod telemetry_fixture;
mod trust;
mod windows;
