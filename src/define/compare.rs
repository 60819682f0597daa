//! `rigor compare 'CMD A' 'CMD B'`: a quick A/B of shell commands. It is an ordinary
//! experiment, written out as an experiment file, so it is stored, resumable and reported
//! exactly like one, and the file can be rerun or edited later.

use crate::define::Source;
use crate::define::config::{ConfigError, Order, parse_experiment};
use std::path::Path;
use std::time::Duration;

pub struct CompareSpec<'a> {
    pub commands: &'a [String],
    pub names: Option<&'a [String]>,
    pub trials: u32,
    pub warmup: u32,
    pub order: Order,
    pub seed: u64,
    pub timeout: Option<Duration>,
}

/// Default variant names: `a`, `b`, `c`, ...
pub fn default_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut s = String::new();
            let mut k = i;
            loop {
                s.insert(0, (b'a' + (k % 26) as u8) as char);
                if k < 26 {
                    break;
                }
                k = k / 26 - 1;
            }
            s
        })
        .collect()
}

pub fn experiment(spec: &CompareSpec<'_>) -> Result<Source, ConfigError> {
    let names: Vec<String> = match spec.names {
        Some(n) => n.to_vec(),
        None => default_names(spec.commands.len()),
    };
    let mut experiment = toml::Table::new();
    experiment.insert("name".into(), "compare".into());
    experiment.insert("seed".into(), (spec.seed as i64).into());
    experiment.insert("baseline".into(), names[0].clone().into());
    experiment.insert("trials".into(), (spec.trials as i64).into());
    experiment.insert("warmup".into(), (spec.warmup as i64).into());
    experiment.insert("order".into(), spec.order.to_string().into());
    experiment.insert(
        "timeout".into(),
        match spec.timeout {
            Some(t) => humantime::format_duration(t).to_string().into(),
            None => "none".into(),
        },
    );
    let variants: Vec<toml::Value> = names
        .iter()
        .zip(spec.commands)
        .map(|(name, cmd)| {
            let mut v = toml::Table::new();
            v.insert("name".into(), name.clone().into());
            let mut p = toml::Table::new();
            p.insert("cmd".into(), cmd.clone().into());
            v.insert("params".into(), p.into());
            toml::Value::Table(v)
        })
        .collect();
    let mut workload = toml::Table::new();
    workload.insert("name".into(), "command".into());
    workload.insert("kind".into(), "command".into());
    workload.insert("command".into(), "{cmd}".into());
    let mut doc = toml::Table::new();
    doc.insert("experiment".into(), experiment.into());
    doc.insert("variant".into(), variants.into());
    doc.insert("workload".into(), vec![toml::Value::Table(workload)].into());
    let text = format!(
        "# written by `rigor compare`; run it again with `rigor run <this file>`\n{}",
        toml::to_string(&doc).unwrap_or_default()
    );
    // The generated file resolves relative paths against the current directory, as the
    // commands on the command line did.
    let path = Path::new("./compare.toml");
    let experiment = parse_experiment(path, &text)?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
        experiment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_run_a_to_z_then_aa() {
        let n = default_names(28);
        assert_eq!(&n[..3], ["a", "b", "c"]);
        assert_eq!(&n[26..], ["aa", "ab"]);
    }

    #[test]
    fn builds_a_valid_experiment_with_one_variant_per_command() {
        let cmds = vec!["sleep 0.01".to_string(), "echo 'a \"b\"' | cat".to_string()];
        let src = experiment(&CompareSpec {
            commands: &cmds,
            names: None,
            trials: 3,
            warmup: 1,
            order: Order::Interleaved,
            seed: 0,
            timeout: None,
        })
        .unwrap();
        let e = &src.experiment;
        assert_eq!(e.variants.len(), 2);
        assert_eq!(e.baseline, "a");
        assert_eq!(e.timeout, None);
        assert_eq!(e.variants[1].params["cmd"].to_string(), cmds[1]);
        let cells = crate::plan::cells(e);
        let inv = crate::plan::invocation::build(e, &cells[1], 0).unwrap();
        assert_eq!(inv.argv, ["/bin/sh", "-c", "echo 'a \"b\"' | cat"]);
        let inv = crate::plan::invocation::build(e, &cells[0], 0).unwrap();
        assert_eq!(inv.argv, ["sleep", "0.01"]);
    }
}
