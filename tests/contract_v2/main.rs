//! Contract tests of the v2 API, through the generated client.
//!
//! One `contract_test!` per operation, named after its operationId, covering
//! the success path (status, body, declared headers) and the failures the
//! spec declares, in the module of the resource it acts on; cross-cutting
//! tests of requests the typed client cannot express (`requests`, sent with
//! a raw HTTP client) and of concurrent requests (`concurrency`); and one
//! table-driven test that every operation requiring credentials refuses an
//! anonymous call (`anonymous`), which the per-operation tests therefore do
//! not repeat.

#[path = "../common/mod.rs"]
mod common;

mod anonymous;
mod api_keys;
mod auth;
mod channels;
mod concurrency;
mod live;
mod me;
mod members;
mod messages;
mod pages;
mod requests;
mod retries;
mod session;
mod timeouts;
mod users;

use std::collections::HashSet;
use std::fmt::Debug;

use charter_client::{Credentials, Error, ResponseValue, v2};
use common::{PASSWORD, TestServer, TestUser, channel, pointers, post, problem, types};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use uuid::Uuid;

type Call<T> = Result<ResponseValue<T>, Error<types::Problem>>;

const PROBLEM_JSON: &str = "application/problem+json";
const NEW_PASSWORD: &str = "analytical engine 1843";

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("visible ASCII header")
        .to_owned()
}

/// The `ETag` of a response, checked to be a strong entity tag as declared.
fn etag(headers: &HeaderMap) -> String {
    let tag = header(headers, "etag");
    let inner = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("ETag {tag} is not quoted"));
    assert!(
        tag.len() >= 2
            && inner
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)),
        "ETag {tag} is not a strong entity tag"
    );
    tag
}

/// A declared problem response: [`common::problem`] plus the content type,
/// the request id echoed in `X-Request-Id` and, for 401, `WWW-Authenticate`.
fn fail<T: Debug>(result: Call<T>, status: u16, code: &str) -> types::Problem {
    if let Err(Error::ErrorResponse(response)) = &result {
        let headers = response.headers();
        assert_eq!(header(headers, "content-type"), PROBLEM_JSON);
        assert_eq!(
            header(headers, "x-request-id"),
            response.request_id.as_str(),
            "the problem names the request id of its response"
        );
        if status == 401 {
            assert_eq!(
                header(headers, "www-authenticate"),
                "Bearer realm=\"charter\""
            );
        }
    }
    problem(result, status, code)
}

/// A problem response read off the wire, with its transport-level checks.
async fn raw_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{response:?}");
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), PROBLEM_JSON);
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let request_id = body["request_id"].as_str().expect("request_id");
    assert!(!request_id.is_empty());
    assert_eq!(header(&headers, "x-request-id"), request_id);
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    body
}

/// A 304 with the given `ETag` and no body.
async fn not_modified<T: Debug>(result: Call<T>, tag: &str) {
    match result {
        Err(Error::UnexpectedResponse(response)) => {
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(header(response.headers(), "etag"), tag);
            let body = response.bytes().await.expect("body");
            assert!(body.is_empty(), "a 304 has no body");
        }
        other => panic!("expected 304 Not Modified, got {other:?}"),
    }
}

/// The pointers of a validation problem, as a set.
fn pointer_set(problem: &types::Problem) -> HashSet<String> {
    pointers(problem).into_iter().collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The pointers named by a raw validation problem, each at `location`.
fn raw_pointers(body: &Value, location: &str) -> HashSet<String> {
    body["errors"]
        .as_array()
        .expect("errors list")
        .iter()
        .map(|e| {
            assert_eq!(e["location"], location, "{e}");
            assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
            e["pointer"].as_str().expect("pointer").to_owned()
        })
        .collect()
}

async fn login(server: &TestServer, email: &str, password: &str) -> Call<types::TokenPair> {
    server
        .anonymous()
        .login()
        .body(types::LoginRequest {
            email: email.parse().expect("email"),
            password: password.parse().expect("password"),
        })
        .send()
        .await
}

async fn refresh(server: &TestServer, token: &str) -> Call<types::TokenPair> {
    server
        .anonymous()
        .refresh_token()
        .body(types::RefreshRequest {
            refresh_token: token.parse().expect("refresh token"),
        })
        .send()
        .await
}

fn public() -> types::ChannelVisibility {
    types::ChannelVisibility::Public
}

fn private() -> types::ChannelVisibility {
    types::ChannelVisibility::Private
}

fn message_body(text: &str) -> types::CreateMessageRequest {
    types::CreateMessageRequest {
        body: text.parse().expect("message body"),
    }
}

async fn add_member(owner: &TestUser, channel: Uuid, user: Uuid) -> Call<types::ChannelMember> {
    owner
        .client
        .add_channel_member()
        .channel_id(channel)
        .user_id(user)
        .send()
        .await
}

/// The newest page of a channel's messages, as `client` sees it.
async fn messages_page(client: &v2::Client, channel: Uuid) -> types::MessagePage {
    client
        .list_messages()
        .channel_id(channel)
        .send()
        .await
        .expect("list")
        .into_inner()
}

async fn new_key(
    user: &TestUser,
    name: &str,
    scopes: &[types::ApiKeyScope],
) -> types::ApiKeyCreated {
    user.client
        .create_api_key()
        .body(types::CreateApiKeyRequest {
            name: name.parse().expect("key name"),
            scopes: scopes.to_vec(),
        })
        .send()
        .await
        .expect("create API key")
        .into_inner()
}

fn with_key(server: &TestServer, key: &types::ApiKeyCreated) -> v2::Client {
    server.with(Credentials::ApiKey(key.key.to_string()))
}

fn garbage_token(server: &TestServer) -> v2::Client {
    server.with(Credentials::Bearer("not.a.jwt".to_owned()))
}

/// A cursor of the same shape with its position altered, so its MAC no
/// longer matches.
fn tamper(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    assert!(
        chars.len() > 5,
        "cursor {cursor} is too short to tamper with"
    );
    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn no_duplicates(ids: &[Uuid]) {
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates across pages: {ids:?}");
}
