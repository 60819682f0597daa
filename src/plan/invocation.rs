//! What exactly runs for a trial of a command workload: argv, extra environment, directory.

/// Why a trial's command cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Template(#[from] crate::define::template::NoValue),
    #[error(transparent)]
    Environment(#[from] crate::define::environment::EnvironmentError),
    #[error(transparent)]
    OwnExe(#[from] crate::machine::NoOwnExe),
    #[error("{0}")]
    Other(String),
}

impl From<String> for InvocationError {
    fn from(s: String) -> Self {
        InvocationError::Other(s)
    }
}

impl From<&str> for InvocationError {
    fn from(s: &str) -> Self {
        InvocationError::Other(s.to_string())
    }
}

use crate::define::config::{CommandTemplate, CommandWorkload, Experiment, ShellMode, Workload};
use crate::define::environment::Environment;
use crate::define::template;
use crate::plan::Cell;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub argv: Vec<String>,
    /// Only the variables rigor adds; the rest of rigor's own environment is inherited.
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    /// Run after a failed or killed trial to remove what it may have left running (a
    /// container its CLI no longer controls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Vec<String>>,
}

/// Where a probe's own binary is mounted inside a container.
const PROBE_IN_CONTAINER: &str = "/opt/rigor/bin/rigor";

/// True when `line` needs a shell to mean what it says: pipes, redirections, expansions,
/// command lists, globs, or a leading `VAR=value` assignment.
pub fn needs_shell(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    if first.contains('=') {
        return true;
    }
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in line.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '$' | '`' if !single => return true,
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | '#' | '~' | '\n'
                if !single && !double =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

pub fn command_of(w: &Workload) -> &CommandWorkload {
    w.kind.command()
}

/// Builds the invocation of `cell`'s `trial`-th repetition (its index is `{trial}`).
pub fn build(exp: &Experiment, cell: &Cell, trial: u32) -> Result<Invocation, InvocationError> {
    build_in(exp, cell, trial, None)
}

/// Where a trial runs when the experiment has lanes: the lane's variables (they win over
/// the file's, or two lanes could share a GPU), and its GPU for containers.
pub struct InLane<'a> {
    pub env: &'a [(String, String)],
    pub gpu_uuid: Option<&'a str>,
}

/// The invocation of `trial` of `cell`, in a lane or not.
pub fn build_in(
    exp: &Experiment,
    cell: &Cell,
    trial: u32,
    lane: Option<&InLane<'_>>,
) -> Result<Invocation, InvocationError> {
    let variant = exp
        .variant(&cell.variant)
        .ok_or_else(|| format!("no variant `{}`", cell.variant))?;
    let workload = exp
        .workloads
        .iter()
        .find(|w| w.name == cell.workload)
        .ok_or_else(|| format!("no workload `{}`", cell.workload))?;
    let cw = command_of(workload);

    let mut values: BTreeMap<String, String> = cell
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    values.insert("variant".into(), variant.name.clone());
    values.insert("workload".into(), workload.name.clone());
    values.insert("trial".into(), trial.to_string());
    values.insert("port".into(), "{port}".into());

    let mut prefix = Vec::new();
    for p in &variant.prefix {
        prefix.push(template::render(p, &values)?);
    }
    let mut argv = Vec::new();
    match &cw.command {
        CommandTemplate::Argv(words) => {
            let at = argv.len();
            for w in words {
                argv.push(template::render(w, &values)?);
            }
            // A probe runs this very binary, wherever it is installed.
            if workload.kind.probe().is_some() {
                argv[at] = crate::machine::own_exe()?.display().to_string();
            }
        }
        CommandTemplate::Line(line) => {
            let line = template::render(line, &values)?;
            let shell = match cw.shell {
                ShellMode::Always => true,
                ShellMode::Never => false,
                ShellMode::Auto => needs_shell(&line),
            };
            if shell {
                argv.extend(["/bin/sh".to_string(), "-c".to_string(), line]);
            } else {
                let words = shell_words::split(&line)
                    .map_err(|e| format!("cannot split the command `{line}` into words: {e}"))?;
                if words.is_empty() {
                    return Err("the command is empty after substitution".into());
                }
                argv.extend(words);
            }
        }
    }

    let mut env = BTreeMap::new();
    for (k, v) in cw.env.iter().chain(variant.env.iter()) {
        env.insert(k.clone(), template::render(v, &values)?);
    }
    for (k, v) in lane.map_or(&[][..], |l| l.env) {
        env.insert(k.clone(), v.clone());
    }
    let dir = variant.workdir.as_ref().or(cw.workdir.as_ref());
    let workdir = match dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => exp.base_dir.join(d),
        None => exp.base_dir.clone(),
    };
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut environment = variant.environment.clone();
    match &mut environment {
        None => {}
        Some(Environment::Chroot(c)) => {
            if workload.kind.probe().is_some() {
                return Err(format!(
                    "the `{}` probe cannot run in a chroot: rigor's binary is not inside it; run the probe natively or in a container",
                    workload.name
                ).into());
            }
            c.root = c.root_in(&exp.base_dir);
        }
        // A probe is this binary: mount it read-only and run it from there.
        Some(Environment::Container(c)) if workload.kind.probe().is_some() => {
            c.mounts
                .push(format!("{}:{PROBE_IN_CONTAINER}:ro", argv[0]));
            argv[0] = PROBE_IN_CONTAINER.to_string();
        }
        Some(Environment::Container(_)) => {}
    }
    let unshare = if variant.unshare.is_empty() {
        Vec::new()
    } else {
        let root = match &environment {
            Some(Environment::Chroot(c)) => Some(c.root.as_path()),
            _ => None,
        };
        crate::define::environment::unshare_words(
            &variant.unshare,
            root,
            crate::machine::own_exe()?,
        )
    };
    let name = crate::define::environment::container_name();
    let (argv, cleanup) = crate::define::environment::wrap(
        environment.as_ref(),
        &crate::define::environment::Inner {
            prefix: &prefix,
            unshare: &unshare,
            command: &argv,
            env: &env,
            name: &name,
            gpu: lane.and_then(|l| l.gpu_uuid),
        },
    )?;
    Ok(Invocation {
        argv,
        env,
        workdir,
        cleanup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::config::parse_experiment;

    #[test]
    fn shell_syntax_is_detected() {
        assert!(!needs_shell("sleep 0.1"));
        assert!(!needs_shell("python3 -c 'print(1)'"));
        assert!(needs_shell("sort data | head"));
        assert!(needs_shell("echo $HOME"));
        assert!(needs_shell("FOO=1 prog"));
        assert!(needs_shell("prog > out.txt"));
        assert!(needs_shell("echo \"$x\""));
        assert!(!needs_shell("echo 'a | b' \"(c)\""));
    }

    #[test]
    fn composes_prefix_command_env_and_workdir() {
        let text = r#"
[experiment]
name = "t"
[[variant]]
name = "pinned"
prefix = "taskset -c {core}"
env = { OMP_NUM_THREADS = "{threads}" }
params = { core = 0 }
[[workload]]
name = "w"
kind = "command"
command = "prog --n {threads} --trial {trial}"
params = { threads = [1, 2] }
workdir = "sub"
env = { MODE = "fast", OMP_NUM_THREADS = "9" }
[[workload]]
name = "piped"
kind = "command"
command = "prog {core} {threads} | tee log"
params = { threads = 4 }
"#;
        // A workdir must exist when the file is read.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let exp = parse_experiment(&dir.path().join("t.toml"), text).unwrap();
        let cells = crate::plan::cells(&exp);
        let inv = build(&exp, &cells[1], 3).unwrap();
        assert_eq!(
            inv.argv,
            ["taskset", "-c", "0", "prog", "--n", "2", "--trial", "3"]
        );
        assert_eq!(
            inv.env,
            [
                ("MODE".to_string(), "fast".to_string()),
                ("OMP_NUM_THREADS".to_string(), "2".to_string())
            ]
        );
        assert_eq!(inv.workdir, dir.path().join("sub"));
        let piped = build(&exp, &cells[2], 0).unwrap();
        assert_eq!(
            piped.argv,
            ["taskset", "-c", "0", "/bin/sh", "-c", "prog 0 4 | tee log"]
        );
        assert_eq!(piped.workdir, dir.path());
    }
}
