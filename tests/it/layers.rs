//! The import direction of docs/design.md, checked on the source: each stage uses only the
//! stages below it, and nothing forms a circle. Layers, bottom up: `stats` and `machine`
//! (leaves), `define`, `trial`, `plan`, `store`, `run`, `analyse`, `report`, `cli`. The
//! one back edge allowed: the runner asks `analyse::adaptive` which cells still need trials.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LAYERS: [&str; 10] = [
    "stats", "machine", "define", "trial", "plan", "store", "run", "analyse", "report", "cli",
];

/// Which other layers a layer may use beyond those below it (and why).
fn allowed_up(from: &str, to: &str, path: &str) -> bool {
    // The runner's adaptive rounds ask the analysis which cells are still open.
    from == "run" && to == "analyse" && path.starts_with("analyse::adaptive")
}

fn rank(layer: &str) -> Option<usize> {
    // stats and machine are both leaves: neither uses the other.
    match layer {
        "stats" | "machine" => Some(0),
        other => LAYERS.iter().position(|l| *l == other),
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_stage_imports_only_the_stages_below_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let re = regex::Regex::new(r"\b(?:crate|rigor)::([a-z_]+)((?:::[a-z_]+)*)").unwrap();
    let mut wrong = BTreeSet::new();
    let mut seen_layers = BTreeSet::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let from = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        let from_rank = rank(&from).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        seen_layers.insert(from.clone());
        let text = std::fs::read_to_string(f).unwrap();
        // Unit tests at the end of a file may use any stage to set up what they check.
        let text = match text.find("#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in re.captures_iter(line) {
                let to = &c[1];
                let Some(to_rank) = rank(to) else { continue };
                let path = format!("{to}{}", &c[2]);
                let ok = to == from || to_rank < from_rank || allowed_up(&from, to, &path);
                // The two leaves stay apart.
                let leaves_apart = !(from_rank == 0 && to_rank == 0 && to != from);
                if !ok || !leaves_apart {
                    wrong.insert(format!("{} uses {path}", rel.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(seen_layers.len(), LAYERS.len(), "{seen_layers:?}");
}
