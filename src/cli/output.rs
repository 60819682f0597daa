//! What several subcommands print the same way.

use super::exit;
use rigor::analyse::Analysis;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    Bar,
    Lines,
    None,
}

pub fn progress_for(mode: ProgressMode) -> Box<dyn rigor::run::progress::Progress> {
    use super::progress::{Bar, Lines, Quiet};
    match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => Box::new(Bar::new()),
        ProgressMode::Auto | ProgressMode::Lines => Box::new(Lines::new()),
        ProgressMode::Bar => Box::new(Bar::new()),
        ProgressMode::None => Box::new(Quiet),
    }
}

/// `--strict`: any validity warning fails the command, after everything was written.
pub fn strict_exit(strict: bool, a: &Analysis) -> ExitCode {
    if strict && !a.warnings.is_empty() {
        let kinds: Vec<&str> = a.warnings.iter().map(|w| w.kind).collect();
        eprintln!(
            "--strict: {} validity warning(s) ({}); the results are saved, but not fit to report as they are",
            kinds.len(),
            kinds.join(", ")
        );
        return exit::code(exit::FAILED);
    }
    exit::code(exit::OK)
}
