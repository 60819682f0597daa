//! `rigor __loopback-up CMD…`: what `unshare = ["net"]` variants run first, inside their
//! new network namespace: the loopback interface up, then the trial's command.

use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let command = a
        .command
        .strip_prefix(&["--".to_string()])
        .unwrap_or(&a.command);
    // Only returns when it could not exec.
    Err(rigor::run::netns::loopback_up_then_exec(command).into())
}
