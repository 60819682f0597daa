//! Errors in experiment files: each one names the file, the line and column, the field at
//! fault and, where we can guess it, what the user meant.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A mistake in an experiment file, located precisely enough to fix without searching.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is not tied to a place (e.g. an unreadable file).
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Dotted path of the field at fault, e.g. `workload[1].params.size`.
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
    /// The offending source line, for display under the message.
    snippet: Option<(String, usize, usize)>,
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error at a byte span of `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut err = ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: field.into(),
            message: message.into(),
            hint: None,
            snippet: None,
        };
        if let Some(span) = span {
            let start = span.start.min(source.len());
            let end = span.end.clamp(start, source.len());
            let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = source[start..]
                .find('\n')
                .map_or(source.len(), |i| start + i);
            err.line = source[..start].matches('\n').count() + 1;
            err.column = source[line_start..start].chars().count() + 1;
            let width = source[start..end.min(line_end)].chars().count().max(1);
            err.snippet = Some((
                source[line_start..line_end].to_string(),
                err.column - 1,
                width,
            ));
        }
        err
    }

    /// An error about the file as a whole (unreadable, empty).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError::at(file, "", None, "", message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": field `{}`: {}", self.field, self.message)?;
        }
        if let Some((text, col, width)) = &self.snippet {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
                "",
                self.line,
                text,
                "",
                " ".repeat(*col),
                "^".repeat(*width),
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" and "unknown variant" messages,
/// a "did you mean" hint.
pub fn hint_for_serde_message(message: &str) -> Option<String> {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))?;
    let word = &unknown[..unknown.find('`')?];
    let expected = &unknown[unknown.find("expected")?..];
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(word, candidates.iter().copied())
        .map(|c| format!("did you mean `{c}`?"))
        .or_else(|| {
            (!candidates.is_empty()).then(|| {
                let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
                format!("valid names here: {}", list.join(", "))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column_of_a_span() {
        let src = "[experiment]\nname = \"x\"\ntrails = 3\n";
        let start = src.find("trails").unwrap();
        let e = ConfigError::at(
            Path::new("f.toml"),
            src,
            Some(start..start + 6),
            "experiment.trails",
            "unknown field",
        );
        assert_eq!((e.line, e.column), (3, 1));
        let shown = e.to_string();
        assert!(shown.starts_with("f.toml:3:1: field `experiment.trails`: unknown field"));
        assert!(shown.contains("3 | trails = 3"));
        assert!(shown.contains("  | ^^^^^^"));
    }

    #[test]
    fn suggests_the_closest_known_name() {
        let m = "unknown field `trails`, expected one of `name`, `seed`, `trials`, `warmup`";
        assert_eq!(
            hint_for_serde_message(m).as_deref(),
            Some("did you mean `trials`?")
        );
        let m =
            "unknown variant `random`, expected one of `sequential`, `interleaved`, `randomized`";
        assert_eq!(
            hint_for_serde_message(m).as_deref(),
            Some("did you mean `randomized`?")
        );
        let m = "unknown field `zzz`, expected `name` or `seed`";
        assert_eq!(
            hint_for_serde_message(m).as_deref(),
            Some("valid names here: `name`, `seed`")
        );
        assert_eq!(hint_for_serde_message("invalid type"), None);
    }
}
