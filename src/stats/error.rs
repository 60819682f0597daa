use thiserror::Error;

/// Why a statistic cannot be computed. Each case is a clear answer for the report, never a
/// NaN that a reader could mistake for a number.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    #[error("needs at least {need} values, has {got}")]
    TooFew { need: usize, got: usize },
    #[error("every value is the same ({value}): there is no variation to test against")]
    Constant { value: f64 },
    #[error(
        "both samples have zero variance: {a} against {b}; a test is undefined when the values never vary"
    )]
    ZeroVariance { a: f64, b: f64 },
    #[error("a value is not a finite number")]
    NonFinite,
    #[error("the baseline mean is zero: a ratio to it is undefined")]
    ZeroBaseline,
    #[error("the values never vary within a cell: an F test has no error term to test against")]
    NoResidual,
    #[error("{0} cannot be computed in floating point for these values")]
    Numeric(&'static str),
}

/// `v`, or why it cannot be reported: a NaN or an infinity is never a result.
pub(crate) fn finite(v: f64, what: &'static str) -> Result<f64, StatsError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(StatsError::Numeric(what))
    }
}

pub(crate) fn check_finite(x: &[f64]) -> Result<(), StatsError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(StatsError::NonFinite)
    }
}

pub(crate) fn need(x: &[f64], n: usize) -> Result<(), StatsError> {
    check_finite(x)?;
    if x.len() < n {
        Err(StatsError::TooFew {
            need: n,
            got: x.len(),
        })
    } else {
        Ok(())
    }
}
