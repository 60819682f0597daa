//! Exit statuses, named (as cargo-nextest does), documented in the README's CLI table.

use std::process::ExitCode;

/// Everything ran and nothing failed.
pub const OK: u8 = 0;
/// Some trials or requests failed (recorded, excluded), the file is invalid, or, with
/// `--strict`, a validity warning: the results are saved but not fit to report as they are.
pub const FAILED: u8 = 1;
/// The command line itself is wrong (clap's own status for usage errors).
pub const USAGE: u8 = 2;
/// Interrupted (Ctrl-C, SIGTERM, SIGHUP): every finished trial is saved; run the same
/// command again to resume. 128 + SIGINT, as shells report it.
pub const INTERRUPTED: u8 = 130;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
