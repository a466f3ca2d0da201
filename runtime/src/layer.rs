//! The outermost middleware, which completes every error response as a
//! problem document, and the fallback for unrouted paths.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::context::REQUEST_ID;
use crate::problem::{PROBLEM_JSON, PendingProblem, Problem};

/// Outermost middleware: every error response leaves as a complete problem
/// document, including the ones axum or tower produce on their own
/// (405 with `Allow`, 413, 408, unknown routes).
pub async fn problem_layer(request: Request, next: Next) -> Response {
    // Handles, not copies: most responses are not problems.
    let request_id = request.headers().get(&REQUEST_ID).cloned();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    complete_problem(response, request_id.as_ref(), uri.path())
}

/// What [`problem_layer`] does to a response, for a middleware of the
/// application's own that does more around it: an error response becomes
/// a complete problem document with the request's id and path.
pub fn complete_problem(
    mut response: Response,
    request_id: Option<&HeaderValue>,
    path: &str,
) -> Response {
    let pending = response.extensions_mut().remove::<PendingProblem>();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let problem = match pending {
        Some(PendingProblem(problem)) => problem,
        None if response.status().as_u16() >= 400 && !is_problem => {
            Problem::for_status(response.status())
        }
        None => return response,
    };
    let (old, _) = response.into_parts();
    let request_id = request_id
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut rendered = problem.render(&request_id, path);
    for (name, value) in &old.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !rendered.headers().contains_key(name)
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// Fallback for routes no operation serves.
pub async fn not_found() -> Problem {
    Problem::for_status(StatusCode::NOT_FOUND)
}
