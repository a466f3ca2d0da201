//! What a generated mock (`charter_codegen::Settings::with_mock`) answers
//! with: bodies made up from the spec at generation time, read into the
//! generated types here, and problems for the statuses it documents.

use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The body `sample` (JSON) holds, as the response's type. A sample that
/// does not fit (a pattern the generator could not honour, say) is a 500
/// whose detail says why.
pub fn mock_body<T: DeserializeOwned>(sample: &str) -> Result<T, Problem> {
    serde_json::from_str(sample).map_err(|error| {
        Problem::internal().with_detail(format!(
            "the mock's made-up body does not fit its type: {error}"
        ))
    })
}

/// The problem a mock answers with for a status the operation documents
/// (and 501 for what it cannot make up, a stream or a WebSocket).
pub fn mock_problem(status: u16) -> Problem {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_IMPLEMENTED);
    Problem::for_status(status).with_detail(format!(
        "The mock answers with the status the operation documents ({status})."
    ))
}
