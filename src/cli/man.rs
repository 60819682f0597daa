//! `rigor man`: the manual page (roff), generated from the parser's definition
//! (clap_mangen): `rigor man > rigor.1 && man ./rigor.1`, or one page per subcommand with
//! `--out DIR`.

use super::exit;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Write rigor.1 and rigor-<subcommand>.1 into this directory instead of rigor(1) to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let cmd = super::command();
    match a.out {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the pages into {}", dir.display()))?;
            println!("wrote the manual pages into {}", dir.display());
        }
    }
    Ok(exit::code(exit::OK))
}
