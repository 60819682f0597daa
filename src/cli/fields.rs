//! The built-in workloads' fields as flags: defined once (`rigor::define::fields`, which
//! the experiment file reads too), listed in `--help` with their defaults, spelt
//! kebab-case (`--output-len`) with the snake_case of the experiment file accepted too.

use clap::{Arg, ArgMatches, FromArgMatches};
use rigor::define::fields::{Probe, parse_args};
use std::collections::BTreeMap;

pub fn kebab(name: &str) -> String {
    name.replace('_', "-")
}

/// `cmd` with a flag for each of `probe`'s fields but those in `skip`.
fn augment(probe: Probe, mut cmd: clap::Command, skip: &[&str]) -> clap::Command {
    for f in probe.fields().iter().filter(|f| !skip.contains(&f.name)) {
        let check = f.check;
        let mut a = Arg::new(f.name)
            .long(kebab(f.name))
            .help(f.help)
            .value_name("VALUE")
            .value_parser(move |s: &str| check(s).map(|()| s.to_string()));
        if f.name.contains('_') {
            a = a.alias(f.name);
        }
        a = match f.default {
            // `{trial}` means "varies by trial" in experiments; by hand it is 0.
            Some(d) if d.starts_with('{') => a.default_value("0"),
            Some("") => a,
            Some(d) => a.default_value(d),
            None => a.required(true),
        };
        cmd = cmd.arg(a);
    }
    cmd
}

/// The fields' values, defaults filled in, checked as the experiment file's are.
fn values(
    probe: Probe,
    m: &ArgMatches,
    skip: &[&str],
) -> Result<BTreeMap<&'static str, String>, clap::Error> {
    let mut pairs = Vec::new();
    for f in probe.fields().iter().filter(|f| !skip.contains(&f.name)) {
        if let Some(v) = m.get_one::<String>(f.name) {
            pairs.push(format!("--{}", f.name));
            pairs.push(v.clone());
        }
    }
    parse_args(probe, &pairs)
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e))
}

/// The fields given on the command line itself, not filled in from their defaults.
fn given(probe: Probe, m: &ArgMatches, skip: &[&str]) -> Vec<&'static str> {
    probe
        .fields()
        .iter()
        .filter(|f| !skip.contains(&f.name))
        .filter(|f| m.value_source(f.name) == Some(clap::parser::ValueSource::CommandLine))
        .map(|f| f.name)
        .collect()
}

macro_rules! field_flags {
    ($name:ident, $probe:expr, $skip:expr) => {
        /// The fields of one workload, as flags: every value (defaults filled in), and the
        /// names of those given on the command line.
        pub struct $name(pub BTreeMap<&'static str, String>, pub Vec<&'static str>);

        impl FromArgMatches for $name {
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(values($probe, m, $skip)?, given($probe, m, $skip)))
            }
            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                self.0 = values($probe, m, $skip)?;
                self.1 = given($probe, m, $skip);
                Ok(())
            }
        }

        impl clap::Args for $name {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                augment($probe, cmd, $skip)
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                augment($probe, cmd, $skip)
            }
        }
    };
}

// serve-bench takes the URL as its argument.
field_flags!(ServeFlags, Probe::LlmServe, &["url"]);
// capacity sets the rate or the concurrency itself, level by level.
field_flags!(
    CapacityFlags,
    Probe::LlmServe,
    &["url", "rate", "concurrency"]
);
field_flags!(LlmFlags, Probe::LlmServe, &[]);
field_flags!(GemmFlags, Probe::Gemm, &[]);
field_flags!(CopyFlags, Probe::Copy, &[]);
