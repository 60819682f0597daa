//! The experiment's definition: the file parsed and checked (`config`), `{name}`
//! placeholders (`template`), the built-in workloads' fields (`fields`), environments a
//! variant runs in (`environment`), and `rigor compare` as a generated experiment
//! (`compare`). Nothing here runs anything.

pub mod compare;
pub mod config;
pub mod environment;
pub mod fields;
pub mod template;
