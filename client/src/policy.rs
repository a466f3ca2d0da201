//! What a client does around every request by itself: the session's access
//! token, an `Idempotency-Key` on `createMessage`, a renewal after a 401,
//! and retries of 429 and 503 answers. The generated clients carry a
//! [`Policy`]; `hooks.rs` runs it around every operation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use progenitor_client::{Error, OperationInfo};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::retry::{Retry, safe_to_repeat};

/// The text of the [`Error::Custom`] a request fails with once its session
/// is revoked; [`is_session_revoked`] recognises it.
const REVOKED: &str = "the session was revoked: sign in again";

/// Why a session could not give an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The server no longer accepts the refresh token (logout, password
    /// change, reuse of a rotated token, or expiry): sign in again.
    Revoked,
    /// The renewal did not get through (network, 429, 503); the session
    /// is intact and the next request tries again.
    Renewal(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Revoked => f.write_str(REVOKED),
            SessionError::Renewal(error) => write!(f, "the access token was not renewed: {error}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// A future a [`TokenSource`] answers with.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a client's access tokens come from: [`crate::TokenSession`], or a
/// source of your own (a token broker, say).
pub trait TokenSource: Send + Sync {
    /// A current access token, renewed first when it is about to expire.
    fn access_token(&self) -> Pending<'_, Result<String, SessionError>>;
    /// After a 401 to a request sent with `rejected`: a token to send again
    /// (renewed unless another task already has).
    fn renew_after<'a>(&'a self, rejected: &'a str) -> Pending<'a, Result<String, SessionError>>;
    /// Whether the server has ended the session.
    fn is_revoked(&self) -> Pending<'_, bool>;
}

/// The operations whose POST the client makes repeatable with an
/// `Idempotency-Key` of its own when the caller gave none, as the generated
/// code names them (the `operationId` in snake case).
const KEYED_OPERATIONS: &[&str] = &["create_message"];

/// The behaviour a client adds to the operations it sends.
#[derive(Clone)]
pub struct Policy {
    /// Retries of 429 and 503 answers.
    pub retry: Retry,
    /// The session whose access token every request carries, renewed as
    /// needed; `None` sends what the HTTP client's headers say.
    pub session: Option<Arc<dyn TokenSource>>,
    /// Adds an `Idempotency-Key` to `createMessage` when the caller did not,
    /// so that a retried post is stored once.
    pub idempotency_keys: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("retry", &self.retry)
            .field("session", &self.session.as_ref().map(|_| ".."))
            .field("idempotency_keys", &self.idempotency_keys)
            .finish()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retry: Retry::default(),
            session: None,
            idempotency_keys: true,
        }
    }
}

impl Policy {
    pub(crate) async fn before<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        if let Some(session) = &self.session {
            let token = session.access_token().await.map_err(session_error)?;
            set_bearer(request.headers_mut(), &token).ok_or_else(|| {
                Error::InvalidRequest("the access token is not a valid header".into())
            })?;
        }
        if self.idempotency_keys
            && KEYED_OPERATIONS.contains(&info.operation_id)
            && !request.headers().contains_key("idempotency-key")
        {
            let key = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .map_err(|e| Error::InvalidRequest(e.to_string()))?;
            request.headers_mut().insert("idempotency-key", key);
        }
        Ok(())
    }

    pub(crate) async fn execute(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        let started = Instant::now();
        let mut attempt = 1;
        let mut renewed = false;
        loop {
            // A copy to send again only when this answer could be followed
            // by another attempt (a streamed body has none: its answer stands).
            let may_resend = (self.session.is_some() && !renewed)
                || (attempt < self.retry.max_attempts
                    && safe_to_repeat(request.method(), request.headers()));
            let spare = if may_resend {
                request.try_clone()
            } else {
                None
            };
            let response = http.execute(request).await?;
            let Some(mut again) = spare else {
                return Ok(response);
            };
            if response.status() == StatusCode::UNAUTHORIZED && !renewed {
                let (Some(session), Some(rejected)) = (&self.session, bearer(again.headers()))
                else {
                    return Ok(response);
                };
                // A revoked session leaves the 401 to `after`.
                let Ok(token) = session.renew_after(&rejected).await else {
                    return Ok(response);
                };
                if set_bearer(again.headers_mut(), &token).is_none() {
                    return Ok(response);
                }
                renewed = true;
                request = again;
                continue;
            }
            let Some(wait) = self.retry.delay(
                attempt,
                started,
                (again.method(), again.headers()),
                response.status(),
                response.headers(),
            ) else {
                return Ok(response);
            };
            drop(response);
            tokio::time::sleep(wait).await;
            attempt += 1;
            request = again;
        }
    }

    pub(crate) async fn after<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
    ) -> Result<(), Error<E>> {
        if let (Some(session), Ok(response)) = (&self.session, result)
            && response.status() == StatusCode::UNAUTHORIZED
            && session.is_revoked().await
        {
            return Err(Error::Custom(REVOKED.to_owned()));
        }
        Ok(())
    }
}

fn session_error<E>(error: SessionError) -> Error<E> {
    Error::Custom(error.to_string())
}

/// Puts `Authorization: Bearer <token>` on a request; `None` when the token
/// cannot be a header value.
fn set_bearer(headers: &mut HeaderMap, token: &str) -> Option<()> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Some(())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

/// Whether a request failed because its session was revoked: sign in again.
pub fn is_session_revoked<E>(error: &Error<E>) -> bool {
    matches!(error, Error::Custom(message) if message == REVOKED)
}
