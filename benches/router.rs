//! Overhead of the generated router against a hand-written axum handler.
//!
//! Both serve `GET /api/v2/users/{user_id}` with the same work: a bearer
//! token checked by the same authenticator, the UUID path parameter, the
//! optional `If-None-Match` header and a JSON `User` with an `ETag`. No
//! database is involved, so the difference is what the generated extraction,
//! validation and response code costs. Requests are driven in-process through
//! `tower::Service`, in alternating rounds so machine noise hits both alike.
//!
//! Run: `cargo bench --bench router` (prints requests/second and the ratio).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use charter::api::v2::{self, *};
use charter::runtime::{Authenticator, Credential, Problem, RequestContext};
use tower::ServiceExt;
use uuid::Uuid;

const TOKEN: &str = "benchmark-token";

#[derive(Clone)]
struct Fake {
    user: User,
}

impl Authenticator for Fake {
    type Principal = Uuid;

    async fn authenticate(
        &self,
        _ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> Result<Uuid, Problem> {
        check_token(match &credential {
            Credential::Bearer { token, .. } => token,
            Credential::ApiKey { key, .. } => key,
        })
    }
}

fn check_token(token: &str) -> Result<Uuid, Problem> {
    if token == TOKEN {
        Ok(Uuid::nil())
    } else {
        Err(Problem::unauthorized("bad token"))
    }
}

fn etag_of(user: &User) -> String {
    format!("\"{}\"", user.id.simple())
}

macro_rules! not_benchmarked {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $response:ty;)*) => {$(
        async fn $name(&self, _ctx: &RequestContext, $($arg: $ty),*) -> Result<$response, Problem> {
            $(let _ = $arg;)*
            Err(Problem::not_found("not part of the benchmark"))
        }
    )*};
}

impl v2::Api for Fake {
    async fn get_user(
        &self,
        _ctx: &RequestContext,
        _auth: Uuid,
        path: GetUserPath,
        headers: GetUserHeaders,
    ) -> Result<GetUserResponse, Problem> {
        if path.user_id != self.user.id {
            return Err(Problem::not_found("no such user"));
        }
        let etag = etag_of(&self.user);
        if headers.if_none_match.as_deref() == Some(etag.as_str()) {
            return Ok(GetUserResponse::NotModified { etag });
        }
        Ok(GetUserResponse::Ok {
            body: self.user.clone(),
            etag,
        })
    }

    not_benchmarked! {
        register(body: RegisterRequest) -> RegisterResponse;
        login(body: LoginRequest) -> LoginResponse;
        refresh_token(body: RefreshRequest) -> RefreshTokenResponse;
        logout(auth: Uuid, body: LogoutRequest) -> LogoutResponse;
        get_me(auth: Uuid) -> GetMeResponse;
        update_me(auth: Uuid, headers: UpdateMeHeaders, body: UpdateMeRequest) -> UpdateMeResponse;
        change_password(auth: Uuid, body: ChangePasswordRequest) -> ChangePasswordResponse;
        list_users(auth: Uuid, query: ListUsersQuery) -> ListUsersResponse;
        delete_user(auth: Uuid, path: DeleteUserPath) -> DeleteUserResponse;
        create_api_key(auth: Uuid, body: CreateApiKeyRequest) -> CreateApiKeyResponse;
        list_api_keys(auth: Uuid) -> ListApiKeysResponse;
        revoke_api_key(auth: Uuid, path: RevokeApiKeyPath) -> RevokeApiKeyResponse;
        create_channel(auth: Uuid, body: CreateChannelRequest) -> CreateChannelResponse;
        list_channels(auth: Uuid, query: ListChannelsQuery) -> ListChannelsResponse;
        get_channel(auth: Uuid, path: GetChannelPath, headers: GetChannelHeaders) -> GetChannelResponse;
        update_channel(auth: Uuid, path: UpdateChannelPath, headers: UpdateChannelHeaders, body: UpdateChannelRequest) -> UpdateChannelResponse;
        delete_channel(auth: Uuid, path: DeleteChannelPath, headers: DeleteChannelHeaders) -> DeleteChannelResponse;
        add_channel_member(auth: Uuid, path: AddChannelMemberPath) -> AddChannelMemberResponse;
        remove_channel_member(auth: Uuid, path: RemoveChannelMemberPath) -> RemoveChannelMemberResponse;
        create_message(auth: Uuid, path: CreateMessagePath, headers: CreateMessageHeaders, body: CreateMessageRequest) -> CreateMessageResponse;
        list_messages(auth: Uuid, path: ListMessagesPath, query: ListMessagesQuery) -> ListMessagesResponse;
        get_message(auth: Uuid, path: GetMessagePath, headers: GetMessageHeaders) -> GetMessageResponse;
        update_message(auth: Uuid, path: UpdateMessagePath, headers: UpdateMessageHeaders, body: UpdateMessageRequest) -> UpdateMessageResponse;
        delete_message(auth: Uuid, path: DeleteMessagePath) -> DeleteMessageResponse;
        stream_channel_events(auth: Uuid, path: StreamChannelEventsPath, query: StreamChannelEventsQuery, headers: StreamChannelEventsHeaders) -> StreamChannelEventsResponse;
        connect_web_socket(auth: Option<Uuid>, headers: ConnectWebSocketHeaders, upgrade: charter::runtime::WebSocketUpgrade) -> ConnectWebSocketResponse;
    }
}

/// The same endpoint written directly against axum's extractors.
async fn hand_written(
    State(fake): State<Fake>,
    Path(user_id): Path<Uuid>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Err(problem) = token.map_or_else(|| Err(Problem::unauthorized("no token")), check_token)
    {
        return problem.into_response();
    }
    if user_id != fake.user.id {
        return Problem::not_found("no such user").into_response();
    }
    let etag = etag_of(&fake.user);
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    ([(header::ETAG, etag)], axum::Json(fake.user.clone())).into_response()
}

fn request(user: Uuid) -> Request<Body> {
    Request::builder()
        .uri(format!("/api/v2/users/{user}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap_or_default()
}

async fn round(router: &Router, user: Uuid, requests: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..requests {
        let response = router.clone().oneshot(request(user)).await;
        let Ok(response) = response;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        assert!(body.is_ok_and(|b| !b.is_empty()));
    }
    start.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let user = User {
        id: Uuid::new_v4(),
        full_name: "Ada Lovelace".to_owned(),
        created_at: chrono::Utc::now(),
    };
    let fake = Fake { user: user.clone() };
    let generated = v2::router(fake.clone());
    let hand = Router::new()
        .route("/api/v2/users/{user_id}", axum::routing::get(hand_written))
        .with_state(fake);

    let requests: u32 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds = 7;
    runtime.block_on(async {
        // Warm up both paths (schema compilation, allocator).
        round(&generated, user.id, 2_000).await;
        round(&hand, user.id, 2_000).await;
        let mut ratios = Vec::new();
        let (mut generated_total, mut hand_total) = (Duration::ZERO, Duration::ZERO);
        for i in 0..rounds {
            // Alternate which goes first so drift in machine load affects both.
            let (g, h) = if i % 2 == 0 {
                let g = round(&generated, user.id, requests).await;
                (g, round(&hand, user.id, requests).await)
            } else {
                let h = round(&hand, user.id, requests).await;
                (round(&generated, user.id, requests).await, h)
            };
            generated_total += g;
            hand_total += h;
            ratios.push(h.as_secs_f64() / g.as_secs_f64());
            println!(
                "round {i}: generated {:>9.0} req/s   hand-written {:>9.0} req/s   ratio {:.3}",
                f64::from(requests) / g.as_secs_f64(),
                f64::from(requests) / h.as_secs_f64(),
                h.as_secs_f64() / g.as_secs_f64()
            );
        }
        ratios.sort_by(f64::total_cmp);
        let total = f64::from(requests) * f64::from(rounds);
        println!(
            "\ngenerated router: {:.0} req/s, hand-written: {:.0} req/s",
            total / generated_total.as_secs_f64(),
            total / hand_total.as_secs_f64()
        );
        println!(
            "generated throughput / hand-written throughput: median {:.3} (min {:.3}, max {:.3}) over {rounds} rounds of {requests} requests",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    });
}
