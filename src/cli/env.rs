//! `rigor env [FILE]`: this machine, as every run records it.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// An experiment file: adds its hash and its directory's git commit.
    file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let (file, json) = (a.file.as_deref(), a.json);
    let (dir, sha) = match file {
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            let dir = f
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (dir, Some(rigor::run::sha256_hex(&text)))
        }
        None => (PathBuf::from("."), None),
    };
    let env = rigor::machine::envinfo::capture(&dir, sha.as_deref());
    if json {
        println!("{}", serde_json::to_string_pretty(&env)?);
    } else {
        for (k, v) in env.lines() {
            println!("{k:>24}: {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
