//! The self-contained HTML report: the Markdown report rendered to HTML, figures inline as
//! SVG, one inline style sheet; no script, no font, no link: it opens from disk and asks
//! the network for nothing.

use super::figures::Figure;
use super::markdown::{Figures, html_escape, to_markdown_with};
use crate::analyse::Analysis;
use crate::store::RunData;

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 26px; margin-top: 0; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
h3 { margin-top: 26px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 9px; text-align: right; vertical-align: top; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { border-bottom: 2px solid #999; }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
pre { background: #f6f6f6; padding: 12px; overflow-x: auto; font-size: 12px; }
.warnings { background: #fff4e5; border: 2px solid #d9822b; border-radius: 6px; padding: 2px 18px 8px; margin: 18px 0; }
.warnings h2 { color: #a35200; border: none; margin-top: 14px; }
figure { margin: 18px 0 26px; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: #444; margin-top: 6px; max-width: 900px; }
"#;

pub fn to_html(a: &Analysis, data: &RunData, figures: &[Figure]) -> String {
    to_html_after(a, data, figures, "")
}

/// The report as HTML after `preamble` (Markdown), e.g. what `rigor diff` says first.
pub fn to_html_after(a: &Analysis, data: &RunData, figures: &[Figure], preamble: &str) -> String {
    let md = format!(
        "{preamble}{}",
        to_markdown_with(a, data, Figures::Inline(figures))
    );
    let mut body = String::new();
    let opts = pulldown_cmark::Options::ENABLE_TABLES;
    pulldown_cmark::html::push_html(&mut body, pulldown_cmark::Parser::new_ext(&md, opts));
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"rigor {}\">\n<title>{} — run {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        html_escape(&a.experiment),
        a.run_id
    )
}
