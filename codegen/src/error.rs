//! The one error of the generator: a problem with the spec, located by the
//! JSON path of the node at fault.

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
