//! The experiment's definition: the file parsed and checked (`config`), `{name}`
//! placeholders (`template`), the built-in workloads' fields (`fields`), environments a
//! variant runs in (`environment`), and `rigor compare` as a generated experiment
//! (`compare`), `[[derived]]` metrics' arithmetic (`derived`). Nothing here runs anything.

pub mod compare;
pub mod config;
pub mod derived;
pub mod environment;
pub mod fields;
pub mod objective;
pub mod template;

/// An experiment and the text it was read from.
pub struct Source {
    /// Where the experiment came from, for the record (a file path, or `<compare>`).
    pub path: std::path::PathBuf,
    pub text: String,
    pub experiment: config::Experiment,
}
