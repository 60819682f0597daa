//! `[[derived]]` metrics: arithmetic over a trial's metrics (`gpu.energy_j / items`),
//! computed for every trial before any statistic, so that intervals are over trial-level
//! values. Hand-written rather than taken from an expression crate: metric names hold `.`,
//! `:` and `-` (`server.llamacpp:tokens_predicted_total`), errors must point at a column
//! of the experiment file, and an operand that is missing or a division by zero must give
//! a missing value with its reason, never inf, NaN or 0.

use serde::{Deserialize, Serialize};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Metric(String),
    Neg(Box<Expr>),
    Op(Box<Expr>, char, Box<Expr>),
}

/// Where and why an expression does not parse (`at` is a byte offset into it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{why}")]
pub struct ExprError {
    pub at: usize,
    pub why: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.:-".contains(c)
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl P<'_> {
    fn skip(&mut self) {
        while let Some(c) = self.s[self.i..]
            .chars()
            .next()
            .filter(|c| c.is_whitespace())
        {
            // By the character's length: a no-break space is two bytes.
            self.i += c.len_utf8();
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.skip();
        self.s[self.i..].chars().next()
    }
    fn fail<T>(&self, why: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            at: self.i,
            why: why.into(),
        })
    }
    // sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.i += 1;
            e = Expr::Op(Box::new(e), op, Box::new(self.product()?));
        }
        Ok(e)
    }
    // product := unary (('*' | '/') unary)*
    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek() {
            self.i += 1;
            e = Expr::Op(Box::new(e), op, Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some('-') => {
                self.i += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some('(') => {
                self.i += 1;
                let e = self.sum()?;
                if self.peek() != Some(')') {
                    return self.fail("expected `)`");
                }
                self.i += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.i;
                let rest = &self.s[self.i..];
                // A number, with an exponent if it has one (1e-3).
                let mut end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                if rest[end..].starts_with(['e', 'E']) {
                    let exp = &rest[end + 1..];
                    let sign = usize::from(exp.starts_with(['+', '-']));
                    let digits = exp[sign..]
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(exp.len() - sign);
                    if digits > 0 {
                        end += 1 + sign + digits;
                    }
                }
                match rest[..end].parse::<f64>() {
                    Ok(v) if v.is_finite() => {
                        self.i += end;
                        Ok(Expr::Number(v))
                    }
                    _ => Err(ExprError {
                        at: start,
                        why: format!("`{}` is not a number", &rest[..end]),
                    }),
                }
            }
            Some(c) if is_name_char(c) => {
                let rest = &self.s[self.i..];
                let end = rest.find(|c| !is_name_char(c)).unwrap_or(rest.len());
                self.i += end;
                Ok(Expr::Metric(rest[..end].to_string()))
            }
            Some(c) => self.fail(format!(
                "unexpected `{c}`: expected a metric name, a number, `-` or `(`"
            )),
            None => self.fail("the expression ends where a metric name or a number was expected"),
        }
    }
}

impl Expr {
    /// Parses `+ - * /`, parentheses, numbers and metric names.
    pub fn parse(s: &str) -> Result<Expr, ExprError> {
        let mut p = P { s, i: 0 };
        let e = p.sum()?;
        match p.peek() {
            None => Ok(e),
            Some(c) => p.fail(format!("unexpected `{c}` after a complete expression")),
        }
    }

    /// The metric names it reads, in order of appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match e {
                Expr::Number(_) => {}
                Expr::Metric(m) => {
                    if !out.contains(&m.as_str()) {
                        out.push(m)
                    }
                }
                Expr::Neg(a) => walk(a, out),
                Expr::Op(a, _, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }

    /// The value, given each metric's value in this trial (`Err` with why it is missing).
    /// A division by zero, or a result that is not finite, is missing with the reason.
    pub fn eval(&self, get: &dyn Fn(&str) -> Result<f64, String>) -> Result<f64, String> {
        let v = match self {
            Expr::Number(v) => *v,
            Expr::Metric(m) => get(m)?,
            Expr::Neg(a) => -a.eval(get)?,
            Expr::Op(a, op, b) => {
                let (x, y) = (a.eval(get)?, b.eval(get)?);
                match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    _ if y == 0.0 => {
                        return Err(match &**b {
                            Expr::Metric(m) => format!("`{m}` is 0 (a division by zero)"),
                            _ => "a division by zero".to_string(),
                        });
                    }
                    _ => x / y,
                }
            }
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err("the result is not a finite number".into())
        }
    }
}

/// One `[[derived]]` metric as stored with the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    pub name: String,
    pub expr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub better: crate::define::config::Better,
}

/// The derived metrics of one trial, in file order (a later one may use an earlier one):
/// `(name, Ok(value) | Err(why missing))`. `get` gives the trial's own metrics.
pub fn evaluate(
    derived: &[Derived],
    get: &dyn Fn(&str) -> Result<f64, String>,
) -> Vec<(String, Result<f64, String>)> {
    let mut out: Vec<(String, Result<f64, String>)> = Vec::new();
    for d in derived {
        let value = match Expr::parse(&d.expr) {
            Ok(e) => e.eval(&|name: &str| match out.iter().find(|(n, _)| n == name) {
                Some((_, Ok(v))) => Ok(*v),
                Some((_, Err(why))) => Err(format!("`{name}` is missing: {why}")),
                None => get(name),
            }),
            Err(e) => Err(format!("`{}` does not parse: {e}", d.expr)),
        };
        out.push((d.name.clone(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(name: &str) -> Result<f64, String> {
        match name {
            "gpu.energy_j" => Ok(500.0),
            "items" => Ok(1000.0),
            "zero" => Ok(0.0),
            "server.llamacpp:tokens_predicted_total" => Ok(128.0),
            _ => Err(format!("no metric `{name}` in this trial")),
        }
    }

    #[test]
    fn arithmetic_follows_the_usual_precedence() {
        let v = |s: &str| Expr::parse(s).unwrap().eval(&metrics).unwrap();
        assert_eq!(v("gpu.energy_j / items"), 0.5);
        assert_eq!(v("1 + 2 * 3"), 7.0);
        assert_eq!(v("(1 + 2) * 3"), 9.0);
        assert_eq!(v("-items / -2e2"), 5.0);
        assert_eq!(v("10 - 4 - 3"), 3.0);
        assert_eq!(v("server.llamacpp:tokens_predicted_total * 1e-3"), 0.128);
        assert_eq!(Expr::parse("a / (b + a)").unwrap().names(), vec!["a", "b"]);
    }

    #[test]
    fn a_missing_operand_or_a_zero_divisor_is_missing_with_the_reason() {
        let e = |s: &str| Expr::parse(s).unwrap().eval(&metrics).unwrap_err();
        assert_eq!(e("items / zero"), "`zero` is 0 (a division by zero)");
        assert_eq!(e("items / (zero * 2)"), "a division by zero");
        assert_eq!(e("items / tokens"), "no metric `tokens` in this trial");
    }

    #[test]
    fn bad_expressions_say_where() {
        let err = |s: &str| Expr::parse(s).unwrap_err();
        assert_eq!(err("a / ").at, 4);
        assert_eq!(err("a + * b").at, 4);
        assert_eq!(err("(a + b").why, "expected `)`");
        assert_eq!(err("a b").at, 2);
        assert_eq!(err("1..2").why, "`1..2` is not a number");
        // Any character, any whitespace: an error, never a panic.
        assert_eq!(
            Expr::parse("a\u{a0}/\u{2003}b").unwrap().names(),
            vec!["a", "b"]
        );
        assert!(Expr::parse("a / é").is_err());
        assert!(Expr::parse("").is_err());
    }

    #[test]
    fn later_derived_metrics_may_use_earlier_ones() {
        let d = |name: &str, expr: &str| Derived {
            name: name.into(),
            expr: expr.into(),
            unit: None,
            better: crate::define::config::Better::Lower,
        };
        let out = evaluate(
            &[
                d("j_per_item", "gpu.energy_j / items"),
                d("mj_per_item", "j_per_item * 1000"),
                d("broken", "items / zero"),
                d("after_broken", "broken + 1"),
            ],
            &metrics,
        );
        assert_eq!(out[1].1, Ok(500.0));
        assert_eq!(
            out[3].1,
            Err("`broken` is missing: `zero` is 0 (a division by zero)".into())
        );
    }
}
