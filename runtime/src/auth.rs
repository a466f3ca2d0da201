//! Security schemes, the credentials they carry, and the [`Authenticator`]
//! hook through which the server turns a credential into a principal.

use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::context::RequestContext;
use crate::problem::Problem;
use crate::scheme::{SchemeKind, SecurityScheme};

/// A credential found in a request, tagged with the scheme that carried it.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Bearer {
        scheme: &'static str,
        token: &'a str,
    },
    ApiKey {
        scheme: &'static str,
        key: &'a str,
    },
}

impl std::fmt::Debug for Credential<'_> {
    // Never print the secret itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer { scheme, .. } => write!(f, "Bearer({scheme})"),
            Credential::ApiKey { scheme, .. } => write!(f, "ApiKey({scheme})"),
        }
    }
}

/// Supplied by the server: admits requests and turns a credential into the
/// principal the operation receives. The generated router calls it in a fixed
/// order (admit the request, authenticate, admit the principal) and stays
/// free of any token format or limiting policy. The admission hooks are
/// asynchronous so that a limit may be kept somewhere shared.
pub trait Authenticator: Clone + Send + Sync + 'static {
    type Principal: Send + Sync + 'static;

    /// Called first, before anything else is read: per-client limits.
    /// Headers for the response go through [`RequestContext::add_response_header`];
    /// [`credential_in`] tells whether authentication (and then
    /// [`Authenticator::admit_principal`]) follows.
    fn admit_request(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, parts);
        async { Ok(()) }
    }

    /// Called once the caller is authenticated: per-principal limits.
    fn admit_principal(
        &self,
        ctx: &RequestContext,
        principal: &Self::Principal,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, principal);
        async { Ok(()) }
    }

    fn authenticate(
        &self,
        ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> impl Future<Output = Result<Self::Principal, Problem>> + Send;
}

fn find_credential<'a>(
    headers: &'a HeaderMap,
    alternative: &[&'static str],
    schemes: &'static [SecurityScheme],
) -> Option<Credential<'a>> {
    for name in alternative {
        let scheme = schemes.iter().find(|s| s.name == *name)?;
        match scheme.kind {
            SchemeKind::Bearer => {
                let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
                let (kind, token) = value.split_once(' ')?;
                let token = token.trim();
                if kind.eq_ignore_ascii_case("bearer") && !token.is_empty() {
                    return Some(Credential::Bearer {
                        scheme: scheme.name,
                        token,
                    });
                }
            }
            SchemeKind::ApiKeyHeader(header_name) => {
                let key = headers.get(header_name)?.to_str().ok()?.trim();
                if !key.is_empty() {
                    return Some(Credential::ApiKey {
                        scheme: scheme.name,
                        key,
                    });
                }
            }
        }
    }
    None
}

/// The credential the request carries for its operation, found as the
/// router finds it: the first of the operation's security alternatives
/// whose scheme's header is present. `None` when the router will not
/// authenticate the request.
pub fn credential_in<'a>(ctx: &RequestContext, headers: &'a HeaderMap) -> Option<Credential<'a>> {
    let schemes = ctx.operation.schemes;
    ctx.operation
        .security
        .iter()
        .find_map(|alternative| find_credential(headers, alternative, schemes))
}

/// Authenticates an operation that requires credentials.
pub async fn require_auth<A: Authenticator>(
    api: &A,
    ctx: &RequestContext,
    headers: &HeaderMap,
) -> Result<A::Principal, Problem> {
    match credential_in(ctx, headers) {
        Some(credential) => api.authenticate(ctx, credential).await,
        None => Err(Problem::unauthorized(
            "This operation requires credentials that the request does not carry.",
        )),
    }
}

/// Authenticates an operation that also admits anonymous callers.
pub async fn optional_auth<A: Authenticator>(
    api: &A,
    ctx: &RequestContext,
    headers: &HeaderMap,
) -> Result<Option<A::Principal>, Problem> {
    match credential_in(ctx, headers) {
        Some(credential) => api.authenticate(ctx, credential).await.map(Some),
        None => Ok(None),
    }
}
