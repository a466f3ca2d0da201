//! The one error of the generator: a problem with the spec, located by the
//! JSON path of the node at fault; and its warning: something of the spec the
//! generated server skips or honours only in part, located the same way.

use std::fmt;

/// A problem with the spec, located by its JSON path (`$.paths['/users'].get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub path: String,
    pub message: String,
}

impl Error {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

impl std::error::Error for Error {}

/// Something of the spec the generated server skips or honours only in part
/// (an operation named for want of an `operationId`, a callback, a cookie
/// parameter, …), located by its JSON path. A spec with `x-charter-strict:
/// true` at its root turns the first into an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}
