//! `rigor report FILE|DB`: Markdown, tidy CSV, JSON, self-contained HTML or LaTeX tables,
//! to stdout or one file per format in a directory, with the figures.

use anyhow::{Context, Result, bail};
use rigor::analyse::analyze;
use rigor::define::config::read_experiment;
use rigor::run as runner;
use rigor::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown.
    Md,
    /// Tidy CSV: one row per trial × metric.
    Csv,
    Json,
    /// One self-contained file: figures inline, no network.
    Html,
    /// booktabs tables (and, with --out, figure snippets and the figures as SVG and PNG).
    Tex,
}

#[derive(clap::Args)]
pub struct Args {
    /// An experiment file or a results store (.db), or a directory `rigor submit` wrote.
    target: PathBuf,
    #[arg(long)]
    store: Option<PathBuf>,
    /// Run id (default: the latest run).
    #[arg(long)]
    run: Option<i64>,
    /// Formats, comma-separated: md, csv, json, html, tex.
    #[arg(long, value_delimiter = ',', default_value = "md")]
    format: Vec<Format>,
    /// Write report.md, trials.csv, report.json, report.html, tables.tex and figures/ into
    /// this directory instead of printing one format to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fail (exit 1) when the analysis has any validity warning.
    #[arg(long)]
    strict: bool,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    report(
        &a.target,
        a.store,
        a.run,
        &a.format,
        a.out.as_deref(),
        a.strict,
    )
}

fn report(
    target: &Path,
    store: Option<PathBuf>,
    run: Option<i64>,
    formats: &[Format],
    out: Option<&Path>,
    strict: bool,
) -> Result<ExitCode> {
    let is_experiment = target.extension().is_some_and(|e| e == "toml");
    // A directory `rigor submit` wrote: merge its shards first, then report the merge.
    if target.is_dir() && target.join("rigor-submit.json").exists() && store.is_none() {
        // Its summary goes to stderr: stdout carries the report.
        super::merge::merge_shards(target, None, true)?;
        return report(&target.join("merged.db"), None, run, formats, out, strict);
    }
    let (store_path, experiment) = if is_experiment {
        let (exp, _) = read_experiment(target)?;
        (
            store.unwrap_or_else(|| runner::default_store_path(&exp)),
            Some(exp.name),
        )
    } else {
        (store.unwrap_or_else(|| target.to_path_buf()), None)
    };
    let store = Store::open_read(&store_path)?;
    let run_id = match (run, &experiment) {
        (Some(r), _) => r,
        (None, Some(name)) => store
            .latest_run(name)?
            .map(|r| r.id)
            .with_context(|| format!("no run of `{name}` in {}", store_path.display()))?,
        (None, None) => store
            .last_run_id()?
            .with_context(|| format!("{} holds no run", store_path.display()))?,
    };
    // Counted before loading: an attempt stored in between is then in the report.
    let unimported = store.unimported();
    let data = store.load(run_id)?;
    if let Ok(n) = unimported
        && n > 0
    {
        eprintln!(
            "warning: {n} attempt(s) are in the store's journal but not yet in the store, so this report leaves them out: a runner is storing them now, or one stopped without closing, and running the experiment again (`rigor run FILE`) imports them"
        );
    }
    let analysis = analyze(&data);
    // HTML carries them inline; Markdown and LaTeX only beside files in --out.
    let wants_figures = formats.contains(&Format::Html)
        || (out.is_some()
            && formats
                .iter()
                .any(|f| matches!(f, Format::Md | Format::Tex)));
    let figures = if wants_figures {
        let extras = rigor::report::figures::Extras::load(&store, &data)?;
        rigor::report::figures::figures(&analysis, &extras).map_err(|e| anyhow::anyhow!(e))?
    } else {
        Vec::new()
    };
    match out {
        None => {
            if formats.len() != 1 {
                bail!("several formats need --out DIR (each goes to its own file)");
            }
            let stdout = std::io::stdout();
            match formats[0] {
                Format::Md => print!("{}", rigor::report::to_markdown(&analysis, &data)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&rigor::report::to_json(&analysis, &data))?
                ),
                Format::Csv => rigor::report::write_csv(&data, stdout.lock())?,
                Format::Html => print!("{}", rigor::report::to_html(&analysis, &data, &figures)),
                Format::Tex => print!("{}", rigor::report::to_latex(&analysis)),
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut pngs = true;
            if !figures.is_empty() {
                let fdir = dir.join("figures");
                let no_png = rigor::report::figures::write_dir(&figures, &fdir)
                    .map_err(|e| anyhow::anyhow!(e))?;
                let kinds = if no_png.is_none() {
                    "SVG and PNG"
                } else {
                    "SVG only"
                };
                println!(
                    "wrote {} figures ({kinds}) in {}",
                    figures.len(),
                    fdir.display()
                );
                if let Some(e) = no_png {
                    pngs = false;
                    eprintln!("warning: no PNG figures: {e}");
                }
            }
            for f in formats {
                let path = match f {
                    Format::Md => dir.join("report.md"),
                    Format::Csv => dir.join("trials.csv"),
                    Format::Json => dir.join("report.json"),
                    Format::Html => dir.join("report.html"),
                    Format::Tex => dir.join("tables.tex"),
                };
                let write = || -> Result<()> {
                    match f {
                        Format::Md => std::fs::write(
                            &path,
                            rigor::report::to_markdown_with(
                                &analysis,
                                &data,
                                rigor::report::Figures::Linked(&figures, pngs),
                            ),
                        )?,
                        Format::Json => std::fs::write(
                            &path,
                            serde_json::to_string_pretty(&rigor::report::to_json(
                                &analysis, &data,
                            ))?,
                        )?,
                        Format::Csv => {
                            rigor::report::write_csv(&data, std::fs::File::create(&path)?)?
                        }
                        Format::Html => std::fs::write(
                            &path,
                            rigor::report::to_html(&analysis, &data, &figures),
                        )?,
                        Format::Tex => {
                            std::fs::write(&path, rigor::report::to_latex(&analysis))?;
                            let snippets = if pngs {
                                rigor::report::figures_tex(&figures)
                            } else {
                                "% no figures: their PNGs could not be drawn (no font installed); the SVGs are in figures/\n".to_string()
                            };
                            std::fs::write(dir.join("figures.tex"), snippets)?;
                        }
                    }
                    Ok(())
                };
                write().with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(super::output::strict_exit(strict, &analysis))
}
