//! rigor: statistically rigorous performance experiments.
//!
//! The modules follow the data flow, one stage each (docs/design.md has the tree and the
//! reasons):
//!
//! [`define`] (the experiment file) → [`plan`] (cells, trials in order, each trial's exact
//! command) → [`run`] (executes trials; its workloads; telemetry) → [`store`] (every
//! attempt, committed as it ends) → [`analyse`] (summaries, comparisons, claims, warnings,
//! adaptive decisions) → [`report`] (every format, figures). [`stats`] is a pure leaf,
//! [`trial`] the records a trial leaves, [`machine`] what the machine is.
//!
//! Imports go one way: a module uses only the stages listed before it, where `store` sits
//! below `run` (the runner writes to it, the analysis reads it). One back edge is allowed:
//! the runner asks [`analyse::adaptive`] which cells still need trials. `tests/it/layers.rs`
//! checks this. Only the command line (the binary's `cli` module) prints.

/// An error that is a reason in words and nothing a caller needs to tell apart: a newtype,
/// so each module's errors have their own type, made from a `String` or `&str` with `?`.
macro_rules! reason_error {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("{0}")]
        pub struct $name(pub String);

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }
    };
}
pub(crate) use reason_error;

pub mod analyse;
pub mod define;
pub mod machine;
pub mod plan;
pub mod report;
pub mod run;
pub mod stats;
pub mod store;
pub mod trial;
