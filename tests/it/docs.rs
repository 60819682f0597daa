//! The docs' reference tables of the built-in workloads' fields are the definitions'
//! own (`rigor::define::fields::reference_table`), so they cannot drift. To bring the docs
//! up to date after changing a field: `RIGOR_UPDATE_DOCS=1 cargo test docs`.

use rigor::define::fields::{Probe, reference_table};
use std::path::PathBuf;

#[test]
fn the_field_tables_in_the_docs_are_the_definitions() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("RIGOR_UPDATE_DOCS").is_some();
    for (doc, probe) in [
        ("docs/experiment-file.md", Probe::Gemm),
        ("docs/experiment-file.md", Probe::Copy),
        ("docs/llm-serving.md", Probe::LlmServe),
    ] {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        let open = format!("<!-- fields: {} -->\n", probe.name());
        let close = "<!-- /fields -->";
        let start = text
            .find(&open)
            .unwrap_or_else(|| panic!("{doc} has no `{}` marker", open.trim()))
            + open.len();
        let end = start + text[start..].find(close).unwrap();
        let want = reference_table(probe);
        if text[start..end] != want {
            if update {
                std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[end..])).unwrap();
            } else {
                panic!(
                    "{doc}: the `{}` fields table differs from the definitions; run RIGOR_UPDATE_DOCS=1 cargo test docs\nexpected:\n{want}",
                    probe.name()
                );
            }
        }
    }
}
