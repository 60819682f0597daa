//! `{name}` placeholders in commands and environment values.
//!
//! Only `{identifier}` not preceded by `$` is a placeholder, so shell and awk braces (`${HOME}`, `{ print $1 }`,
//! `{a,b}`) pass through untouched; `{{` and `}}` write a literal brace where an identifier
//! would otherwise be read as a placeholder.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Placeholder(&'a str),
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(Piece::Brace(tail.as_bytes()[0] as char));
            rest = &tail[2..];
            continue;
        }
        // `${NAME}` is the shell's, never ours.
        let after_dollar = out
            .last()
            .is_some_and(|p| matches!(p, Piece::Text(t) if t.ends_with('$')));
        if tail.starts_with('{')
            && !after_dollar
            && let Some(end) = tail.find('}')
            && is_ident(&tail[1..end])
        {
            out.push(Piece::Placeholder(&tail[1..end]));
            rest = &tail[end + 1..];
            continue;
        }
        out.push(Piece::Text(&tail[..1]));
        rest = &tail[1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The first `{name` that is never closed, where `known(name)` (a parameter or built-in
/// placeholder): its byte offset and the name. Braces of unknown words are the shell's or
/// awk's business and are left alone.
pub fn unclosed(template: &str, known: impl Fn(&str) -> bool) -> Option<(usize, &str)> {
    let b = template.as_bytes();
    let mut i = 0;
    while let Some(off) = template[i..].find('{') {
        let at = i + off;
        if template[at..].starts_with("{{") {
            i = at + 2;
            continue;
        }
        let rest = &template[at + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        let closed = b.get(at + 1 + len) == Some(&b'}');
        let after_dollar = at > 0 && b[at - 1] == b'$';
        if !closed && !after_dollar && is_ident(name) && known(name) {
            return Some((at, name));
        }
        i = at + 1;
    }
    None
}

/// The placeholder names used in `template`, in order of first use.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut seen = Vec::new();
    for p in pieces(template) {
        if let Piece::Placeholder(name) = p
            && !seen.contains(&name)
        {
            seen.push(name);
        }
    }
    seen
}

/// Substitutes every placeholder; names missing from `values` are an error naming them
/// (validation rejects such files earlier, so this only fires on programming errors).
/// A placeholder with no value: validation rejects such files earlier, so this only fires
/// on programming errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no value for placeholder `{{{0}}}`")]
pub struct NoValue(pub String);

pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, NoValue> {
    let mut out = String::with_capacity(template.len() + 16);
    for p in pieces(template) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Brace(c) => out.push(c),
            Piece::Placeholder(name) => match values.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(NoValue(name.to_string())),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_identifiers_and_leaves_shell_braces_alone() {
        let t = "echo {size} ${HOME} {a,b} awk '{ print $1 }' {{size}}";
        assert_eq!(placeholders(t), vec!["size"]);
        assert_eq!(
            render(t, &vals(&[("size", "4")])).unwrap(),
            "echo 4 ${HOME} {a,b} awk '{ print $1 }' {size}"
        );
    }

    #[test]
    fn reports_a_missing_value() {
        assert!(
            render("run {x}", &BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("{x}")
        );
    }

    #[test]
    fn an_unclosed_placeholder_of_a_known_name_is_found() {
        let known = |n: &str| n == "x" || n == "size";
        assert_eq!(unclosed("echo {x", known), Some((5, "x")));
        assert_eq!(unclosed("run {size} {x -n", known), Some((11, "x")));
        assert_eq!(unclosed("echo {x} {{x ${x awk '{print $1}'", known), None);
        assert_eq!(unclosed("echo {other", known), None);
    }

    #[test]
    fn lists_each_placeholder_once() {
        assert_eq!(placeholders("{a}{b}{a}{ c}{1x}"), vec!["a", "b"]);
    }
}
