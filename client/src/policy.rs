//! What a client does around every request by itself: the session's access
//! token, an `Idempotency-Key` on `createMessage`, a renewal after a 401,
//! and retries of 429 and 503 answers. The generated clients carry a
//! [`Policy`] and run these hooks on every operation.

use std::time::Instant;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::retry::Retry;
use crate::session::{REVOKED, SessionError, TokenSession};

/// The operations whose POST the client makes repeatable with an
/// `Idempotency-Key` of its own when the caller gave none, as the generated
/// code names them (the `operationId` in snake case).
const KEYED_OPERATIONS: &[&str] = &["create_message"];

/// The behaviour a client adds to the operations it sends.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Retries of 429 and 503 answers.
    pub retry: Retry,
    /// The session whose access token every request carries, renewed as
    /// needed; `None` sends what the HTTP client's headers say.
    pub session: Option<TokenSession>,
    /// Adds an `Idempotency-Key` to `createMessage` when the caller did not,
    /// so that a retried post is stored once.
    pub idempotency_keys: bool,
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
    async fn before<E>(
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

    async fn execute(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        let started = Instant::now();
        let mut attempt = 1;
        let mut renewed = false;
        loop {
            // A streamed body cannot be sent twice; its answer stands.
            let spare = request.try_clone();
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

    async fn after<E>(&self, result: &reqwest::Result<reqwest::Response>) -> Result<(), Error<E>> {
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

macro_rules! hooks_for {
    ($client:ty) => {
        impl ClientHooks<Policy> for $client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().before(request, info).await
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                _info: &OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                self.inner().execute(self.client(), request).await
            }

            async fn post<E>(
                &self,
                result: &reqwest::Result<reqwest::Response>,
                _info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().after(result).await
            }
        }
    };
}

hooks_for!(crate::v1::Client);
hooks_for!(crate::v2::Client);
