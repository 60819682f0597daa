//! `rigor import TOOL FILE --store DB`: another tool's results as a run of a store, for
//! rigor's statistics and reports.

use anyhow::{Context, Result};
use rigor::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// hyperfine's `--export-json`: each command a variant, each run a trial (`time`, s).
    Hyperfine,
}

#[derive(clap::Args)]
pub struct Args {
    tool: Tool,
    /// The tool's result file.
    file: PathBuf,
    /// The store to add the run to (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// The experiment's name (default: the file's name without its extension).
    #[arg(long)]
    name: Option<String>,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let name = a.name.unwrap_or_else(|| {
        a.file
            .file_stem()
            .map_or("imported".into(), |s| s.to_string_lossy().into_owned())
    });
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let file = a.file.display().to_string();
    // Read and checked before the store is touched: a wrong file writes nothing.
    let done = match a.tool {
        Tool::Hyperfine => {
            let parsed = rigor::run::import::read_hyperfine(&file, &text)?;
            let store = Store::open(&a.store)?;
            rigor::run::import::hyperfine(&store, &parsed, &file, &text, &name, &command_line)?
        }
    };
    println!(
        "imported {} trial(s) of {} command(s) from {file} as run {} of `{name}` in {}",
        done.trials,
        done.variants.len(),
        done.run_id,
        a.store.display()
    );
    for (v, c) in &done.variants {
        println!("  {v}: {c}");
    }
    println!("report: rigor report {}", a.store.display());
    Ok(super::exit::code(super::exit::OK))
}
