//! `rigor completions SHELL`: completions generated from the same definition as the
//! parser (clap_complete), so they cannot drift from it.

use super::exit;
use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let mut cmd = super::command();
    clap_complete::generate(a.shell, &mut cmd, "rigor", &mut std::io::stdout());
    Ok(exit::code(exit::OK))
}
