//! `rigor import TOOL FILE… --store DB`: another tool's results as a run of a store, for
//! rigor's statistics and reports.

use anyhow::{Context, Result, bail};
use rigor::run::import::{read_aiperf, read_hyperfine, read_pytest_benchmark, read_vllm, write};
use rigor::store::Store;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// hyperfine's `--export-json`: each command a variant, each run a trial (`time`, s).
    Hyperfine,
    /// pytest-benchmark's `--benchmark-json` (with `--benchmark-save-data`): each benchmark
    /// function a variant, its parameters the sweep, each round a trial (`time`, s).
    PytestBenchmark,
    /// AIPerf's `profile_export_aiperf.json`: each file a trial of the cell its
    /// configuration names; `NAME=FILE` puts a file in variant NAME.
    Aiperf,
    /// vLLM's `bench serve --save-result` JSON: each file a trial of the cell its
    /// configuration names; `NAME=FILE` puts a file in variant NAME (default: its label).
    Vllm,
}

#[derive(clap::Args)]
pub struct Args {
    tool: Tool,
    /// The tool's result files (hyperfine: one; AIPerf and vLLM: one per trial, `NAME=FILE`
    /// for a variant other than the default).
    #[arg(required = true)]
    files: Vec<String>,
    /// The store to add the run to (created if missing).
    #[arg(long)]
    store: std::path::PathBuf,
    /// The experiment's name (default: the first file's name without its extension).
    #[arg(long)]
    name: Option<String>,
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    // (variant, file): `NAME=FILE` where NAME is a usable name and FILE exists.
    let default = match a.tool {
        Tool::Vllm => "",
        _ => "aiperf",
    };
    let split = |arg: &str| -> (String, String) {
        match arg.split_once('=') {
            Some((v, f))
                if !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    && std::path::Path::new(f).exists() =>
            {
                (v.to_string(), f.to_string())
            }
            _ => (default.to_string(), arg.to_string()),
        }
    };
    // Read and checked before the store is touched: a wrong file writes nothing.
    let (parsed, names, text) = match a.tool {
        Tool::Hyperfine | Tool::PytestBenchmark => {
            if a.files.len() != 1 {
                bail!("one file: its JSON holds every benchmark");
            }
            let text = read(&a.files[0])?;
            let parsed = if a.tool == Tool::Hyperfine {
                read_hyperfine(&a.files[0], &text)?
            } else {
                read_pytest_benchmark(&a.files[0], &text)?
            };
            (parsed, a.files[0].clone(), text)
        }
        Tool::Aiperf | Tool::Vllm => {
            let mut files = Vec::new();
            for arg in &a.files {
                let (variant, file) = split(arg);
                let text = read(&file)?;
                files.push((variant, file, text));
            }
            let all: String = files.iter().map(|f| f.2.as_str()).collect();
            let names = files
                .iter()
                .map(|f| f.1.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let parsed = if a.tool == Tool::Vllm {
                read_vllm(&files)?
            } else {
                read_aiperf(&files)?
            };
            (parsed, names, all)
        }
    };
    let name = a.name.unwrap_or_else(|| {
        let first = split(&a.files[0]).1;
        std::path::Path::new(&first)
            .file_stem()
            .map_or("imported".into(), |s| s.to_string_lossy().into_owned())
    });
    let store = Store::open(&a.store)?;
    let done = write(&store, &parsed, &name, &names, &text, &command_line)?;
    println!(
        "imported {} trial(s) of {} variant(s) from {names} as run {} of `{name}` in {}",
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
