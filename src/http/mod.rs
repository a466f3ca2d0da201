//! The HTTP surface: the generated routers of both versions over one [`App`],
//! the unversioned routes, and the layers every request passes through.

mod cors;
pub mod listener;
pub mod live;
mod models;
mod request_span;
mod v1;
mod v2;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use crate::api;
use crate::app::App;
use crate::auth::{CredentialKind, Principal, hex};
use crate::principal_cache::SessionPrincipal;
use charter_runtime::{self as runtime, Authenticator, Credential, Problem, RequestContext};

impl Authenticator for App {
    type Principal = Principal;

    async fn admit_request(&self, ctx: &RequestContext, parts: &Parts) -> Result<(), Problem> {
        let address = self.limits.client_address(parts);
        // Shared limits cost a round trip each: when a principal's check
        // follows, the address is checked with it (or, if authentication
        // fails, on its own then), so a request makes one trip at most.
        if self.limits.is_shared() && runtime::credential_in(ctx, &parts.headers).is_some() {
            ctx.set_extension(AddressToAdmit(address));
            return Ok(());
        }
        self.limits.admit(ctx, Some(address), None).await
    }

    async fn admit_principal(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
    ) -> Result<(), Problem> {
        // API keys and users have separate allowances.
        let key = match &principal.via {
            CredentialKind::ApiKey { key_id, .. } => *key_id,
            CredentialKind::AccessToken { .. } => principal.user_id,
        };
        let address = ctx.take_extension::<AddressToAdmit>().map(|a| a.0);
        self.limits.admit(ctx, address, Some(key)).await
    }

    async fn authenticate(
        &self,
        ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> Result<Principal, Problem> {
        let authenticated = self.authenticate_credential(ctx, credential).await;
        if authenticated.is_err()
            && let Some(AddressToAdmit(address)) = ctx.take_extension()
        {
            // A refused credential still counts against its address.
            self.limits.admit(ctx, Some(address), None).await?;
        }
        authenticated
    }
}

/// A client address whose check waits for the principal's (shared limits).
#[derive(Clone, Copy)]
struct AddressToAdmit(std::net::IpAddr);

impl App {
    async fn authenticate_credential(
        &self,
        ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> Result<Principal, Problem> {
        match credential {
            Credential::Bearer { token, .. } => self.bearer_principal(token).await,
            Credential::ApiKey { key, .. } => {
                let found =
                    crate::api_keys::authenticate(&self.store, &self.principals, key).await?;
                let (row, user_seq, role) = (found.key, found.user_seq, found.role);
                let scopes = row.scope_list();
                // Reads need the `read` scope, everything else `write`.
                let needed = match ctx.operation.method {
                    "GET" | "HEAD" => "read",
                    _ => "write",
                };
                if !scopes.iter().any(|s| s == needed) {
                    return Err(Problem::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "INSUFFICIENT_SCOPE",
                    )
                    .with_detail(format!("This API key lacks the `{needed}` scope.")));
                }
                Ok(Principal {
                    user_id: row.user_id,
                    user_seq,
                    role,
                    via: CredentialKind::ApiKey {
                        key_id: row.id,
                        scopes,
                    },
                })
            }
        }
    }
}

impl App {
    /// The principal a bearer access token stands for: the token is checked
    /// offline, then its user, role and session (not revoked since it was
    /// issued) are read from the database, or from the principal cache when
    /// they were read a moment ago.
    pub async fn bearer_principal(&self, token: &str) -> Result<Principal, Problem> {
        let claims = self.tokens.verify_access(token)?;
        let found = match self.principals.session(claims.user_id, claims.session_id) {
            Some(found) => found,
            None => {
                let check = self.principals.start_check();
                let user = crate::users::find_in_session(
                    &self.store,
                    claims.user_id,
                    claims.session_id,
                )
                .await?
                .ok_or_else(|| {
                    Problem::unauthorized(
                        "The access token's session has ended or the account no longer exists.",
                    )
                })?;
                let found = SessionPrincipal {
                    user_seq: user.seq,
                    role: user.role,
                };
                self.principals
                    .store_session(check, claims.user_id, claims.session_id, found);
                // The same read is the user's profile, which the request
                // often shows next (`/me`).
                self.principals.store_user(check, user.id, user);
                found
            }
        };
        Ok(Principal {
            user_id: claims.user_id,
            user_seq: found.user_seq,
            role: found.role,
            via: CredentialKind::AccessToken {
                session_id: claims.session_id,
                expires_at: claims.expires_at,
            },
        })
    }
}

/// The operation tables of every served version.
pub const OPERATION_TABLES: &[&[runtime::OperationInfo]] =
    &[api::v1::OPERATIONS, api::v2::OPERATIONS];

/// The whole service: both API versions, health and the published specs,
/// behind the layers every request passes (outermost last).
pub fn router(app: App) -> Router {
    let config = &app.config;
    let mut router = api::v1::router(app.clone())
        .merge(api::v2::router(app.clone()))
        .layer(axum::middleware::from_fn(request_span::operation_span))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            database_gate,
        ))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(app.clone()))
        .route("/openapi/v1.yaml", get(|| spec(api::V1_YAML, YAML)))
        .route("/openapi/v1.json", get(|| spec(api::V1_JSON, JSON)))
        .route("/openapi/v2.yaml", get(|| spec(api::V2_YAML, YAML)))
        .route("/openapi/v2.json", get(|| spec(api::V2_JSON, JSON)))
        .merge(docs())
        .fallback(runtime::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The extractors' own limit (a problem naming the body) and the
        // transport's (anything else that reads a body).
        .layer(runtime::BodyLimit(config.max_body_bytes).layer())
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            config.request_timeout,
            deadline,
        ))
        .layer(axum::middleware::from_fn(edge))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            close_when_draining,
        ));
    if let Some(cors) = cors::layer(&config.cors_origins, &[api::V1_JSON, api::V2_JSON]) {
        router = router.layer(cors);
    }
    router.layer(axum::middleware::from_fn_with_state(
        app.clone(),
        request_span::request_span,
    ))
}

/// The operator's listener: metrics and probes, kept off the public
/// address so that neither the figures nor the probes are open to the world.
pub fn admin_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(runtime::not_found)
        .with_state(app)
        .layer(axum::middleware::from_fn(runtime::problem_layer))
        .layer(SetRequestIdLayer::new(runtime::REQUEST_ID, MakeRequestUuid))
}

async fn metrics(State(app): State<App>) -> Response {
    let now = crate::metrics::Gauges {
        pool: app.store.db.pool_state(),
        db_up: app.health.is_up(),
        db_writable: app.health.is_writable(),
        sse: app.live.sse.load(std::sync::atomic::Ordering::Relaxed),
        websocket: app
            .live
            .websocket
            .load(std::sync::atomic::Ordering::Relaxed),
        inline_reads: app.store.db.inline_read_counts(),
    };
    match app.metrics.render(&now) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => crate::error::internal("rendering metrics", error).into_response(),
    }
}

/// While the health probe finds the database unreachable, API requests are
/// answered 503 at once instead of each waiting for a connection; requests
/// already waiting when it is found down are answered 503 then (whatever
/// they had begun is rolled back with their transaction).
async fn database_gate(State(app): State<App>, request: Request, next: Next) -> Response {
    if app.health.is_up() {
        tokio::select! {
            biased;
            response = next.run(request) => return response,
            () = app.health.outage() => {}
        }
    }
    app.metrics.record_db_unavailable();
    crate::health::database_unavailable().into_response()
}

/// What every answer passes through on its way out, in one layer (each
/// layer costs every request a boxed service of its own): `Accept`
/// negotiation (406) on the way in; on the way out, error responses
/// completed as problem documents (also those axum or tower made: 404,
/// 405, 413, timeouts), the v1 deprecation headers on everything under
/// `/api/v1/` (also 404, 405, 413, timeouts, database outages), and the
/// security headers.
async fn edge(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(&runtime::REQUEST_ID).cloned();
    let uri = request.uri().clone();
    let response = match negotiate(&request) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    };
    let mut response = runtime::complete_problem(response, request_id.as_ref(), uri.path());
    let headers = response.headers_mut();
    if uri.path().starts_with("/api/v1/") {
        for (name, value) in api::v1::CONSTANT_HEADERS {
            let name = HeaderName::from_static(name);
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
    }
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
    }
    response
}

/// A request that runs past `--request-timeout` is answered with a problem
/// of its own (`PROCESSING_TIMEOUT`, 503, `Retry-After`), so a client can
/// tell a slow request from a fault. The request's work is dropped.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "PROCESSING_TIMEOUT")
            .with_title("Request timed out")
            .with_detail(format!(
                "The server did not finish the request within {:?}. A read may be retried; a write may or may not have taken effect: repeat it with the same Idempotency-Key, or read before writing again.",
                limit
            ))
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response(),
    }
}

/// Once shutting down, every response closes its connection, so a load
/// balancer (or a client) opens its next one to an instance that stays.
async fn close_when_draining(State(app): State<App>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if app.health.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// 200 while the server should get traffic: the database answers and it is
/// not shutting down; otherwise 503 with the reason.
async fn readyz(State(app): State<App>) -> Response {
    match app.health.readiness() {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// The interactive reference of both versions at `/docs` (Swagger UI,
/// embedded in the binary: nothing is fetched from the internet), reading
/// the bundled specs at `/openapi/{v2,v1}.json`.
fn docs() -> Router {
    use utoipa_swagger_ui::{Config, SwaggerUi, Url};
    let ui = SwaggerUi::new("/docs").config(
        Config::new([
            Url::with_primary("v2 (current)", "/openapi/v2.json", true),
            Url::new("v1 (deprecated)", "/openapi/v1.json"),
        ])
        .display_operation_id(true)
        .try_it_out_enabled(false)
        // Never send the spec to the public online validator.
        .validator_url("none"),
    );
    Router::from(ui).layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}

/// The docs page runs Swagger UI's own script and styles, from this server only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'";

/// Sent on every response: an API's answers are data, never documents to
/// render, frame or cache.
const SECURITY_HEADERS: &[(HeaderName, &str)] = &[
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// 406 when the client accepts none of the media types the API produces.
fn negotiate(request: &Request) -> Option<Problem> {
    if acceptable(request.headers(), false) || !request.uri().path().starts_with("/api/") {
        return None;
    }
    // Not JSON: an event stream (`text/event-stream`) is acceptable too
    // where the operation produces one. Looked up only here, off the
    // common path.
    let streams = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| {
            runtime::find_operation(OPERATION_TABLES, request.method(), route.as_str())
        })
        .is_some_and(|op| op.produces.contains(&"text/event-stream"));
    if streams && acceptable(request.headers(), true) {
        return None;
    }
    Some(
        Problem::new(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE").with_detail(if streams {
            "This operation answers with text/event-stream (or application/problem+json)."
        } else {
            "This API answers with application/json or application/problem+json."
        }),
    )
}

/// Whether every `Accept` header admits JSON or, with `streams`, an event stream.
fn acceptable(headers: &axum::http::HeaderMap, streams: bool) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .all(|value| value.to_str().is_ok_and(|accept| accepts(accept, streams)))
}

/// Whether an `Accept` value admits JSON (or problem+json) at a non-zero
/// weight, or, with `streams`, an event stream.
fn accepts(accept: &str, streams: bool) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused
            && matches!(
                media.as_str(),
                "*/*" | "application/*" | "application/json" | "application/problem+json"
            )
            || !refused && streams && matches!(media.as_str(), "text/event-stream" | "text/*")
    })
}

/// 405 keeps axum's `Allow` header; the problem layer supplies the body.
async fn method_not_allowed() -> Response {
    axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response()
}

const YAML: &str = "application/yaml";
const JSON: &str = "application/json";

async fn spec(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Serves `app` on `listener` until `app.shutdown` is cancelled, then stops
/// accepting connections and waits for requests in flight. Live sessions
/// watch the same token and close by themselves (WebSocket 1001).
pub async fn serve(listener: TcpListener, app: App) -> std::io::Result<()> {
    listener::serve(
        listener,
        router(app.clone()),
        &app.config.connections,
        app.metrics.listener("api"),
        app.shutdown.clone(),
    )
    .await
}

/// Serves the operator's router on `listener` until `stop` is cancelled,
/// with a connection cap of its own so it stays reachable while the API
/// listener is full.
pub async fn serve_admin(
    listener: TcpListener,
    app: App,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let settings = listener::Settings {
        max_connections: listener::ADMIN_MAX_CONNECTIONS,
        ..app.config.connections.clone()
    };
    listener::serve(
        listener,
        admin_router(app.clone()),
        &settings,
        app.metrics.listener("admin"),
        stop,
    )
    .await
}

/// A strong entity tag for one representation (`kind`) of a row at a version.
pub fn etag(kind: &str, id: Uuid, version: i64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update(id.as_bytes());
    hasher.update(version.to_be_bytes());
    format!("\"{}\"", hex(&hasher.finalize()[..12]))
}

/// `If-None-Match` (weak comparison): whether the client's copy is current.
pub fn none_match_hits(header: Option<&str>, current: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

/// `If-Match` (strong comparison) against the representation at `version`,
/// whose entity tag is `current`: 412 when it does not match; otherwise the
/// version the write must still find, or none when the write is
/// unconditional (no header, or `*`, which any current version matches).
pub fn check_if_match(
    header: Option<&str>,
    current: &str,
    version: i64,
) -> Result<Option<i64>, Problem> {
    let Some(header) = header else {
        return Ok(None);
    };
    let mut tags = header.split(',').map(str::trim);
    if tags.clone().any(|tag| tag == "*") {
        return Ok(None);
    }
    if tags.any(|tag| tag == current) {
        Ok(Some(version))
    } else {
        Err(Problem::precondition_failed(
            "The resource has changed since you read it (If-Match does not match its ETag).",
        ))
    }
}

/// 412 for a conditional write that lost a race with another change.
pub fn changed_meanwhile() -> Problem {
    Problem::precondition_failed("The resource changed while the request was applied; re-read it.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert!(accepts("application/json", false));
        assert!(accepts("text/html, */*;q=0.1", false));
        assert!(accepts("application/problem+json", false));
        assert!(!accepts("text/html", false));
        assert!(!accepts("application/json;q=0, text/plain", false));
        assert!(!accepts("application/xml", false));
        assert!(!accepts("text/event-stream", false));
        assert!(accepts("text/event-stream", true));
        assert!(!accepts("text/event-stream;q=0", true));
    }

    #[test]
    fn conditional_headers_follow_rfc_9110() {
        let tag = etag("user", Uuid::nil(), 1);
        assert!(none_match_hits(Some(&format!("W/{tag}")), &tag));
        assert!(none_match_hits(Some("*"), &tag));
        assert!(!none_match_hits(Some("\"other\""), &tag));
        assert_eq!(check_if_match(None, &tag, 3).ok(), Some(None));
        assert_eq!(
            check_if_match(Some(&format!("\"x\", {tag}")), &tag, 3).ok(),
            Some(Some(3))
        );
        assert_eq!(check_if_match(Some("*"), &tag, 3).ok(), Some(None));
        assert!(check_if_match(Some(&format!("W/{tag}")), &tag, 3).is_err());
        assert_ne!(etag("user", Uuid::nil(), 1), etag("user", Uuid::nil(), 2));
        assert_ne!(etag("me", Uuid::nil(), 1), etag("user", Uuid::nil(), 1));
    }
}
