//! Contract tests of the v2 API, through the generated client.
//!
//! One `contract_test!` per operation, named after its operationId, covering
//! the success path (status, body, declared headers) and the failures the
//! spec declares; then a few cross-cutting tests for requests the typed
//! client cannot express, sent with a raw HTTP client.

mod common;

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

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// auth
// ---------------------------------------------------------------------------

contract_test!(register, |server| {
    let client = server.anonymous();
    let request = types::RegisterRequest {
        email: "ada@example.com".parse().expect("email"),
        full_name: "Ada Lovelace".parse().expect("name"),
        password: PASSWORD.parse().expect("password"),
    };
    let created = client
        .register()
        .body(request.clone())
        .send()
        .await
        .expect("register");
    assert_eq!(created.status().as_u16(), 201);
    let location = header(created.headers(), "location");
    let me = created.into_inner();
    assert_eq!(location, format!("/api/v2/users/{}", me.id));
    assert_eq!(me.full_name.as_str(), "Ada Lovelace");
    assert_eq!(me.email.as_str(), "ada@example.com");
    assert_eq!(me.created_at, me.updated_at);

    // Registration does not log in, but the account can log in afterwards,
    // and Location names the new user's public profile.
    let tokens = login(&server, "ada@example.com", PASSWORD)
        .await
        .expect("login")
        .into_inner();
    let ada = server.with(Credentials::Bearer(tokens.access_token.clone()));
    assert_eq!(ada.get_me().send().await.expect("me").id, me.id);
    let profile = server
        .raw()
        .get(server.url(&location))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .expect("GET Location");
    assert_eq!(profile.status().as_u16(), 200);
    let profile: Value = profile.json().await.expect("profile");
    assert_eq!(profile["id"], me.id.to_string());
    assert_eq!(profile["full_name"], "Ada Lovelace");

    // The same email again conflicts; the stored account is untouched.
    let again = client
        .register()
        .body(types::RegisterRequest {
            full_name: "Impostor".parse().expect("name"),
            password: "another password".parse().expect("password"),
            ..request
        })
        .send()
        .await;
    fail(again, 409, "EMAIL_TAKEN");
    problem(
        login(&server, "ada@example.com", "another password").await,
        401,
        "UNAUTHENTICATED",
    );
    assert!(login(&server, "ada@example.com", PASSWORD).await.is_ok());

    // A malformed email address is refused, naming the field.
    let bad = client
        .register()
        .body(types::RegisterRequest {
            email: "not-an-email".parse().expect("email"),
            full_name: "Nobody".parse().expect("name"),
            password: PASSWORD.parse().expect("password"),
        })
        .send()
        .await;
    let bad = fail(bad, 422, "VALIDATION_FAILED");
    assert_eq!(pointer_set(&bad), set(&["#/email"]));
    assert_eq!(bad.errors[0].location, types::ValidationErrorLocation::Body);
    problem(
        login(&server, "not-an-email", PASSWORD).await,
        422,
        "VALIDATION_FAILED",
    );

    // A password shorter than 8 characters (the typed client refuses to send it).
    let short = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .json(&json!({"email": "bob@example.com", "password": "short", "full_name": "Bob"}))
        .send()
        .await
        .expect("raw register");
    let short = raw_problem(short, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&short, "body"), set(&["#/password"]));
    problem(
        login(&server, "bob@example.com", "short").await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(login, |server| {
    let alice = server.user("Alice").await;
    let ok = login(&server, &alice.email, PASSWORD).await.expect("login");
    assert_eq!(ok.status().as_u16(), 200);
    let pair = ok.into_inner();
    assert_eq!(pair.token_type, types::TokenPairTokenType::Bearer);
    assert_eq!(pair.expires_in.get(), 900);
    assert!(pair.refresh_token.len() >= 16, "{}", pair.refresh_token);
    // Each login starts a new session.
    assert_ne!(pair.refresh_token, alice.refresh_token);
    assert_ne!(pair.access_token, alice.access_token);
    let me = server
        .with(Credentials::Bearer(pair.access_token.clone()))
        .get_me()
        .send()
        .await
        .expect("the access token works");
    assert_eq!(me.id, alice.id);
    assert!(refresh(&server, &pair.refresh_token).await.is_ok());

    // Wrong password and unknown account are indistinguishable.
    let wrong = fail(
        login(&server, &alice.email, "not the password").await,
        401,
        "UNAUTHENTICATED",
    );
    let unknown = fail(
        login(&server, "nobody@example.com", PASSWORD).await,
        401,
        "UNAUTHENTICATED",
    );
    assert_eq!(wrong.detail, unknown.detail);
    assert_eq!(wrong.title, unknown.title);

    // Missing fields are listed.
    let missing = server
        .raw()
        .post(server.url("/api/v2/auth/login"))
        .json(&json!({"email": alice.email}))
        .send()
        .await
        .expect("raw login");
    let missing = raw_problem(missing, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&missing, "body"), set(&["#/password"]));
});

contract_test!(refresh_token, |server| {
    let alice = server.user("Alice").await;
    let t0 = alice.refresh_token.clone();

    let first = refresh(&server, &t0).await.expect("refresh t0");
    assert_eq!(first.status().as_u16(), 200);
    let first = first.into_inner();
    assert_eq!(first.token_type, types::TokenPairTokenType::Bearer);
    assert_eq!(first.expires_in.get(), 900);
    assert_ne!(first.refresh_token, t0, "the refresh token rotates");
    let me = server
        .with(Credentials::Bearer(first.access_token.clone()))
        .get_me()
        .send()
        .await
        .expect("the new access token works");
    assert_eq!(me.id, alice.id);

    let t1 = first.refresh_token;
    let second = refresh(&server, &t1)
        .await
        .expect("refresh t1")
        .into_inner();
    let t2 = second.refresh_token;
    assert_ne!(t2, t1);

    // An independent session of the same user.
    let other = login(&server, &alice.email, PASSWORD)
        .await
        .expect("second session")
        .into_inner()
        .refresh_token;

    // The rotated token no longer works, and presenting it again revokes its
    // whole family: the newest token stops working too.
    fail(refresh(&server, &t0).await, 401, "UNAUTHENTICATED");
    fail(refresh(&server, &t2).await, 401, "UNAUTHENTICATED");
    fail(refresh(&server, &t1).await, 401, "UNAUTHENTICATED");
    // Other sessions are not affected.
    let other = refresh(&server, &other)
        .await
        .expect("other session refreshes");
    assert_eq!(other.status().as_u16(), 200);

    // A token this server never issued.
    fail(
        refresh(&server, "rt_0000000000000000000000000000").await,
        401,
        "UNAUTHENTICATED",
    );
    // Too short to be a refresh token at all.
    let short = server
        .raw()
        .post(server.url("/api/v2/auth/refresh"))
        .json(&json!({"refresh_token": "short"}))
        .send()
        .await
        .expect("raw refresh");
    let short = raw_problem(short, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&short, "body"), set(&["#/refresh_token"]));
});

contract_test!(logout, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let body = |token: &str| types::LogoutRequest {
        refresh_token: token.parse().expect("refresh token"),
    };

    // Without a bearer token, even with a valid refresh token.
    fail(
        server
            .anonymous()
            .logout()
            .body(body(&alice.refresh_token))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        garbage_token(&server)
            .logout()
            .body(body(&alice.refresh_token))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    // Bob cannot end Alice's session.
    let foreign = bob
        .client
        .logout()
        .body(body(&alice.refresh_token))
        .send()
        .await;
    assert_eq!(
        foreign.expect("logout is idempotent").status().as_u16(),
        204
    );
    let still = refresh(&server, &alice.refresh_token)
        .await
        .expect("Alice's session survives Bob's logout")
        .into_inner();

    // Alice ends her session (by its latest refresh token).
    let done = alice
        .client
        .logout()
        .body(body(&still.refresh_token))
        .send()
        .await
        .expect("logout");
    assert_eq!(done.status().as_u16(), 204);
    fail(
        refresh(&server, &still.refresh_token).await,
        401,
        "UNAUTHENTICATED",
    );
    // The session's access tokens end with it.
    fail(alice.client.get_me().send().await, 401, "UNAUTHENTICATED");
    // Bob's own session is untouched.
    assert!(refresh(&server, &bob.refresh_token).await.is_ok());

    // An API key is not a bearer token.
    let key = new_key(
        &bob,
        "bot",
        &[types::ApiKeyScope::Read, types::ApiKeyScope::Write],
    )
    .await;
    fail(
        with_key(&server, &key)
            .logout()
            .body(body(&bob.refresh_token))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

// ---------------------------------------------------------------------------
// me
// ---------------------------------------------------------------------------

contract_test!(get_me, |server| {
    let alice = server.user("Alice").await;
    let response = alice.client.get_me().send().await.expect("me");
    assert_eq!(response.status().as_u16(), 200);
    let tag = etag(response.headers());
    let me = response.into_inner();
    assert_eq!(me.id, alice.id);
    assert_eq!(me.email.as_str(), alice.email);
    assert_eq!(me.full_name.as_str(), "Alice");
    assert_eq!(me.role, types::MeRole::User);
    // Stable while nothing changes.
    let again = alice.client.get_me().send().await.expect("me again");
    assert_eq!(etag(again.headers()), tag);

    fail(
        server.anonymous().get_me().send().await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        garbage_token(&server).get_me().send().await,
        401,
        "UNAUTHENTICATED",
    );
    // An API key does not reach the private profile.
    let key = new_key(&alice, "reader", &[types::ApiKeyScope::Read]).await;
    fail(
        with_key(&server, &key).get_me().send().await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(update_me, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let read = alice.client.get_me().send().await.expect("me");
    let tag0 = etag(read.headers());
    let before = read.into_inner();
    let rename = |name: &str| types::UpdateMeRequest {
        full_name: Some(name.parse().expect("name")),
    };

    let updated = alice
        .client
        .update_me()
        .if_match(tag0.as_str())
        .body(rename("Alice Liddell"))
        .send()
        .await
        .expect("conditional update");
    assert_eq!(updated.status().as_u16(), 200);
    let tag1 = etag(updated.headers());
    assert_ne!(tag1, tag0);
    let after = updated.into_inner();
    assert_eq!(after.full_name.as_str(), "Alice Liddell");
    assert_eq!(after.email, before.email);
    assert_eq!(after.created_at, before.created_at);
    assert!(after.updated_at >= before.updated_at);
    // The new ETag is the one getMe reports; others see the new name.
    let reread = alice.client.get_me().send().await.expect("me");
    assert_eq!(etag(reread.headers()), tag1);
    assert_eq!(reread.full_name.as_str(), "Alice Liddell");
    let public = bob
        .client
        .get_user()
        .user_id(alice.id)
        .send()
        .await
        .expect("profile");
    assert_eq!(public.full_name.as_str(), "Alice Liddell");

    // A stale If-Match is refused and changes nothing.
    fail(
        alice
            .client
            .update_me()
            .if_match(tag0.as_str())
            .body(rename("Lost Update"))
            .send()
            .await,
        412,
        "PRECONDITION_FAILED",
    );
    assert_eq!(
        alice
            .client
            .get_me()
            .send()
            .await
            .expect("me")
            .full_name
            .as_str(),
        "Alice Liddell"
    );

    // Without If-Match the update is unconditional.
    let plain = alice
        .client
        .update_me()
        .body(rename("Alice"))
        .send()
        .await
        .expect("unconditional update");
    assert_ne!(etag(plain.headers()), tag1);
    assert_eq!(plain.full_name.as_str(), "Alice");

    // At least one field.
    let empty = alice
        .client
        .update_me()
        .body(types::UpdateMeRequest { full_name: None })
        .send()
        .await;
    let empty = fail(empty, 422, "VALIDATION_FAILED");
    assert!(!empty.errors.is_empty());
    // The email is not updatable.
    let email = server
        .raw()
        .patch(server.url("/api/v2/me"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"email": "evil@example.com"}))
        .send()
        .await
        .expect("raw update");
    let email = raw_problem(email, 422, "VALIDATION_FAILED").await;
    assert!(raw_pointers(&email, "body").contains("#/email"), "{email}");

    fail(
        server
            .anonymous()
            .update_me()
            .body(rename("Mallory"))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(change_password, |server| {
    let alice = server.user("Alice").await;
    let second_session = login(&server, &alice.email, PASSWORD)
        .await
        .expect("second session")
        .into_inner()
        .refresh_token;
    let change = |current: &str, new: &str| types::ChangePasswordRequest {
        current_password: current.parse().expect("current"),
        new_password: new.parse().expect("new"),
    };

    // A wrong current password is forbidden and changes nothing.
    fail(
        alice
            .client
            .change_password()
            .body(change("not the password", NEW_PASSWORD))
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    assert!(login(&server, &alice.email, PASSWORD).await.is_ok());
    fail(
        login(&server, &alice.email, NEW_PASSWORD).await,
        401,
        "UNAUTHENTICATED",
    );
    // That login started a third session; remember it too.
    let third_session = login(&server, &alice.email, PASSWORD)
        .await
        .expect("third session")
        .into_inner()
        .refresh_token;

    let done = alice
        .client
        .change_password()
        .body(change(PASSWORD, NEW_PASSWORD))
        .send()
        .await
        .expect("change password");
    assert_eq!(done.status().as_u16(), 204);

    // The new password logs in, the old one does not.
    fail(
        login(&server, &alice.email, PASSWORD).await,
        401,
        "UNAUTHENTICATED",
    );
    let fresh = login(&server, &alice.email, NEW_PASSWORD)
        .await
        .expect("new password logs in")
        .into_inner();
    // Every earlier session is over, access tokens included; the new one works.
    for token in [&alice.refresh_token, &second_session, &third_session] {
        fail(refresh(&server, token).await, 401, "UNAUTHENTICATED");
    }
    fail(alice.client.get_me().send().await, 401, "UNAUTHENTICATED");
    assert!(refresh(&server, &fresh.refresh_token).await.is_ok());

    // The new password must be at least 8 characters long.
    let short = server
        .raw()
        .post(server.url("/api/v2/me/password"))
        .bearer_auth(&fresh.access_token)
        .json(&json!({"current_password": NEW_PASSWORD, "new_password": "short"}))
        .send()
        .await
        .expect("raw change");
    let short = raw_problem(short, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&short, "body"), set(&["#/new_password"]));
    assert!(login(&server, &alice.email, NEW_PASSWORD).await.is_ok());

    fail(
        server
            .anonymous()
            .change_password()
            .body(change(NEW_PASSWORD, "whatever password"))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

// ---------------------------------------------------------------------------
// users
// ---------------------------------------------------------------------------

contract_test!(list_users, |server| {
    let alice = server.user("Alice").await;
    let mut registered = vec![alice.id];
    for name in ["Bob", "Carol", "Dan", "Erin"] {
        registered.push(server.user(name).await.id);
    }

    // Walk every page of two.
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut cursors = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = alice.client.list_users().limit(2u32);
        if let Some(cursor) = &cursor {
            request = request.cursor(cursor.as_str());
        }
        let page = request.send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let page = page.into_inner();
        sizes.push(page.items.len());
        ids.extend(page.items.iter().map(|u| u.id));
        match page.next_cursor {
            Some(next) => {
                cursors.push(next.to_string());
                cursor = Some(next.to_string());
            }
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, [2, 2, 1], "the last page has no next_cursor");
    no_duplicates(&ids);
    // A stable order: registration order.
    assert_eq!(ids, registered);

    // Without a limit everything fits on one page of at most 20.
    let all = alice
        .client
        .list_users()
        .send()
        .await
        .expect("all")
        .into_inner();
    assert_eq!(
        all.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        registered
    );
    assert!(all.next_cursor.is_none());
    assert_eq!(all.items[0].full_name.as_str(), "Alice");

    // The same cursor resumes at the same place, through an API key too.
    let key = new_key(&alice, "reader", &[types::ApiKeyScope::Read]).await;
    let resumed = with_key(&server, &key)
        .list_users()
        .limit(2u32)
        .cursor(cursors[0].as_str())
        .send()
        .await
        .expect("resume with a key")
        .into_inner();
    assert_eq!(
        resumed.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        registered[2..4]
    );

    // Cursors this server did not issue, or issued to someone else.
    let bob = server.user("Bob2").await;
    fail(
        bob.client
            .list_users()
            .cursor(cursors[0].as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    fail(
        alice
            .client
            .list_users()
            .cursor(tamper(&cursors[0]).as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    fail(
        alice
            .client
            .list_users()
            .cursor("bm90LWEtY3Vyc29y")
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );

    let too_big = fail(
        alice.client.list_users().limit(101u32).send().await,
        422,
        "VALIDATION_FAILED",
    );
    assert_eq!(pointer_set(&too_big), set(&["#/limit"]));
    assert_eq!(
        too_big.errors[0].location,
        types::ValidationErrorLocation::Query
    );

    fail(
        server.anonymous().list_users().send().await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        garbage_token(&server).list_users().send().await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(get_user, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;

    let response = alice
        .client
        .get_user()
        .user_id(bob.id)
        .send()
        .await
        .expect("get user");
    assert_eq!(response.status().as_u16(), 200);
    let tag = etag(response.headers());
    let profile = response.into_inner();
    assert_eq!(profile.id, bob.id);
    assert_eq!(profile.full_name.as_str(), "Bob");
    // The public profile does not reveal the email address.
    let raw: Value = server
        .raw()
        .get(server.url(&format!("/api/v2/users/{}", bob.id)))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("raw get")
        .json()
        .await
        .expect("json");
    assert!(raw.get("email").is_none(), "{raw}");

    // Revalidation: 304 while unchanged, 200 with a new ETag afterwards.
    not_modified(
        alice
            .client
            .get_user()
            .user_id(bob.id)
            .if_none_match(tag.as_str())
            .send()
            .await,
        &tag,
    )
    .await;
    let other = alice
        .client
        .get_user()
        .user_id(bob.id)
        .if_none_match("\"something-else\"")
        .send()
        .await
        .expect("non-matching If-None-Match");
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(etag(other.headers()), tag);
    bob.client
        .update_me()
        .body(types::UpdateMeRequest {
            full_name: Some("Robert".parse().expect("name")),
        })
        .send()
        .await
        .expect("rename");
    let changed = alice
        .client
        .get_user()
        .user_id(bob.id)
        .if_none_match(tag.as_str())
        .send()
        .await
        .expect("changed since");
    assert_eq!(changed.status().as_u16(), 200);
    let new_tag = etag(changed.headers());
    assert_ne!(new_tag, tag);
    assert_eq!(changed.full_name.as_str(), "Robert");

    // With an API key.
    let key = new_key(&alice, "reader", &[types::ApiKeyScope::Read]).await;
    let via_key = with_key(&server, &key)
        .get_user()
        .user_id(bob.id)
        .send()
        .await
        .expect("via key");
    assert_eq!(etag(via_key.headers()), new_tag);

    fail(
        alice.client.get_user().user_id(Uuid::new_v4()).send().await,
        404,
        "NOT_FOUND",
    );
    fail(
        server.anonymous().get_user().user_id(bob.id).send().await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(delete_user, |server| {
    let admin = server.user("Admin").await;
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let bobs_key = new_key(&bob, "bot", &[types::ApiKeyScope::Read]).await;
    let bobs_channel = channel(&bob, "bobs-place", public()).await;

    // Only administrators may delete accounts; Bob is still there afterwards.
    let denied = fail(
        alice.client.delete_user().user_id(bob.id).send().await,
        403,
        "FORBIDDEN",
    );
    assert!(denied.detail.is_some_and(|d| d.contains("administrators")));
    assert!(bob.client.get_me().send().await.is_ok());

    // The role is granted outside the API; the admin's current token carries
    // it at once, since the role is read on every request.
    server.make_admin(&admin.email).await;
    let me = admin.client.get_me().send().await.expect("me").into_inner();
    assert_eq!(me.role, types::MeRole::Admin);

    let deleted = admin
        .client
        .delete_user()
        .user_id(bob.id)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    // Everything Bob had is gone: profile, tokens, keys, channels.
    fail(
        admin.client.get_user().user_id(bob.id).send().await,
        404,
        "NOT_FOUND",
    );
    fail(bob.client.get_me().send().await, 401, "UNAUTHENTICATED");
    fail(
        with_key(&server, &bobs_key).list_users().send().await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        refresh(&server, &bob.refresh_token).await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        admin
            .client
            .get_channel()
            .channel_id(bobs_channel.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    // Deleting again, or an id nobody has, is 404.
    fail(
        admin.client.delete_user().user_id(bob.id).send().await,
        404,
        "NOT_FOUND",
    );
    fail(
        admin
            .client
            .delete_user()
            .user_id(Uuid::new_v4())
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    // An administrator cannot delete their own account.
    fail(
        admin.client.delete_user().user_id(admin.id).send().await,
        403,
        "FORBIDDEN",
    );
    assert!(admin.client.get_me().send().await.is_ok());

    // Bearer only: not anonymous, not with an API key, even an admin's.
    fail(
        server
            .anonymous()
            .delete_user()
            .user_id(alice.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    let admins_key = new_key(
        &admin,
        "ops",
        &[types::ApiKeyScope::Read, types::ApiKeyScope::Write],
    )
    .await;
    fail(
        with_key(&server, &admins_key)
            .delete_user()
            .user_id(alice.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    assert!(alice.client.get_me().send().await.is_ok());

    // A malformed id.
    let bad = server
        .raw()
        .delete(server.url("/api/v2/users/not-a-uuid"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .expect("raw delete");
    let bad = raw_problem(bad, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&bad, "path"), set(&["#/user_id"]));
});

// ---------------------------------------------------------------------------
// api-keys
// ---------------------------------------------------------------------------

contract_test!(create_api_key, |server| {
    let alice = server.user("Alice").await;
    let created = alice
        .client
        .create_api_key()
        .body(types::CreateApiKeyRequest {
            name: "CI deploy bot".parse().expect("name"),
            scopes: vec![types::ApiKeyScope::Read, types::ApiKeyScope::Write],
        })
        .send()
        .await
        .expect("create key");
    assert_eq!(created.status().as_u16(), 201);
    let location = header(created.headers(), "location");
    let key = created.into_inner();
    assert_eq!(location, format!("/api/v2/api-keys/{}", key.id));
    assert_eq!(key.name.as_str(), "CI deploy bot");
    assert_eq!(
        key.scopes,
        [types::ApiKeyScope::Read, types::ApiKeyScope::Write]
    );
    assert!(key.key.starts_with("chk_"), "{}", key.prefix.as_str());
    assert!(key.prefix.starts_with("chk_"));
    assert!(key.key.starts_with(key.prefix.as_str()));
    assert!(
        key.prefix.len() < key.key.len(),
        "the prefix is not the secret"
    );
    assert!(key.last_used_at.is_none());

    // The key authenticates, for reads and writes, as Alice.
    let bot = with_key(&server, &key);
    let me_as_user = bot
        .get_user()
        .user_id(alice.id)
        .send()
        .await
        .expect("read with key");
    assert_eq!(me_as_user.id, alice.id);
    let made = bot
        .create_channel()
        .body(types::CreateChannelRequest {
            name: "deploys".parse().expect("name"),
            topic: None,
            visibility: None,
        })
        .send()
        .await
        .expect("write with key");
    assert_eq!(made.owner_id, alice.id);

    // Each key has its own secret.
    let other = new_key(&alice, "CI deploy bot", &[types::ApiKeyScope::Read]).await;
    assert_ne!(other.key, key.key);
    assert_ne!(other.id, key.id);

    // A read-only key reads but may not write.
    let reader = with_key(&server, &other);
    reader
        .get_channel()
        .channel_id(made.id)
        .send()
        .await
        .expect("read with a read key");
    fail(
        reader
            .update_channel()
            .channel_id(made.id)
            .body(types::UpdateChannelRequest {
                name: None,
                topic: Some("read-only".parse().expect("topic")),
            })
            .send()
            .await,
        403,
        "INSUFFICIENT_SCOPE",
    );

    // An API key cannot create keys.
    fail(
        bot.create_api_key()
            .body(types::CreateApiKeyRequest {
                name: "escalate".parse().expect("name"),
                scopes: vec![types::ApiKeyScope::Write],
            })
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    // Scopes: at least one, no repeats.
    for scopes in [
        vec![],
        vec![types::ApiKeyScope::Read, types::ApiKeyScope::Read],
    ] {
        let bad = alice
            .client
            .create_api_key()
            .body(types::CreateApiKeyRequest {
                name: "bad".parse().expect("name"),
                scopes,
            })
            .send()
            .await;
        assert_eq!(
            pointer_set(&fail(bad, 422, "VALIDATION_FAILED")),
            set(&["#/scopes"])
        );
    }
    let unknown_scope = server
        .raw()
        .post(server.url("/api/v2/api-keys"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"name": "admin", "scopes": ["admin"]}))
        .send()
        .await
        .expect("raw create");
    let unknown_scope = raw_problem(unknown_scope, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&unknown_scope, "body"), set(&["#/scopes/0"]));
    let listed = alice
        .client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.items.len(), 2, "refused keys were not created");

    fail(
        server
            .anonymous()
            .create_api_key()
            .body(types::CreateApiKeyRequest {
                name: "anon".parse().expect("name"),
                scopes: vec![types::ApiKeyScope::Read],
            })
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(list_api_keys, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let first = new_key(&alice, "first", &[types::ApiKeyScope::Read]).await;
    let second = new_key(
        &alice,
        "second",
        &[types::ApiKeyScope::Read, types::ApiKeyScope::Write],
    )
    .await;
    let bobs = new_key(&bob, "bob's", &[types::ApiKeyScope::Write]).await;

    // Use the first key once.
    with_key(&server, &first)
        .list_users()
        .send()
        .await
        .expect("use the key");

    let response = alice.client.list_api_keys().send().await.expect("list");
    assert_eq!(response.status().as_u16(), 200);
    let items = response.into_inner().items;
    assert_eq!(
        items.iter().map(|k| k.id).collect::<Vec<_>>(),
        [first.id, second.id]
    );
    assert_eq!(items[0].name.as_str(), "first");
    assert_eq!(items[0].prefix.as_str(), first.prefix.as_str());
    assert_eq!(items[0].scopes, [types::ApiKeyScope::Read]);
    assert!(items[0].last_used_at.is_some(), "the use was recorded");
    assert_eq!(items[1].name.as_str(), "second");
    assert_eq!(items[1].created_at, second.created_at);
    assert!(items[1].last_used_at.is_none());

    // The secrets never appear again.
    let raw = server
        .raw()
        .get(server.url("/api/v2/api-keys"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("raw list")
        .text()
        .await
        .expect("text");
    assert!(!raw.contains(first.key.as_str()) && !raw.contains(second.key.as_str()));
    let raw: Value = serde_json::from_str(&raw).expect("json");
    for item in raw["items"].as_array().expect("items") {
        assert!(item.get("key").is_none(), "{item}");
    }

    // Bob sees only his own.
    let bob_items = bob
        .client
        .list_api_keys()
        .send()
        .await
        .expect("bob's list")
        .into_inner();
    assert_eq!(
        bob_items.items.iter().map(|k| k.id).collect::<Vec<_>>(),
        [bobs.id]
    );

    // Bearer only.
    fail(
        with_key(&server, &second).list_api_keys().send().await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        server.anonymous().list_api_keys().send().await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(revoke_api_key, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let doomed = new_key(&alice, "doomed", &[types::ApiKeyScope::Read]).await;
    let kept = new_key(&alice, "kept", &[types::ApiKeyScope::Read]).await;
    let doomed_client = with_key(&server, &doomed);
    doomed_client
        .list_users()
        .send()
        .await
        .expect("works before");

    let revoked = alice
        .client
        .revoke_api_key()
        .key_id(doomed.id)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    fail(
        doomed_client.list_users().send().await,
        401,
        "UNAUTHENTICATED",
    );
    let listed = alice
        .client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.items.iter().map(|k| k.id).collect::<Vec<_>>(),
        [kept.id]
    );
    // Already revoked.
    fail(
        alice.client.revoke_api_key().key_id(doomed.id).send().await,
        404,
        "NOT_FOUND",
    );
    // Another user's key, and an unknown id.
    fail(
        bob.client.revoke_api_key().key_id(kept.id).send().await,
        404,
        "NOT_FOUND",
    );
    with_key(&server, &kept)
        .list_users()
        .send()
        .await
        .expect("Bob could not revoke Alice's key");
    fail(
        alice
            .client
            .revoke_api_key()
            .key_id(Uuid::new_v4())
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    // Bearer only: a key cannot revoke keys, not even itself.
    fail(
        with_key(&server, &kept)
            .revoke_api_key()
            .key_id(kept.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        server
            .anonymous()
            .revoke_api_key()
            .key_id(kept.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    with_key(&server, &kept)
        .list_users()
        .send()
        .await
        .expect("still works");
});

// ---------------------------------------------------------------------------
// channels
// ---------------------------------------------------------------------------

contract_test!(create_channel, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let created = alice
        .client
        .create_channel()
        .body(types::CreateChannelRequest {
            name: "release-planning".parse().expect("name"),
            topic: Some("Coordinating the 2.4 release".parse().expect("topic")),
            visibility: None,
        })
        .send()
        .await
        .expect("create channel");
    assert_eq!(created.status().as_u16(), 201);
    let location = header(created.headers(), "location");
    let tag = etag(created.headers());
    let general = created.into_inner();
    assert_eq!(location, format!("/api/v2/channels/{}", general.id));
    assert_eq!(general.name.as_str(), "release-planning");
    assert_eq!(
        general.topic.as_deref().map(String::as_str),
        Some("Coordinating the 2.4 release")
    );
    assert_eq!(
        general.visibility,
        public(),
        "visibility defaults to public"
    );
    assert_eq!(general.owner_id, alice.id);
    assert_eq!(general.created_at, general.updated_at);

    // Location and ETag are those of the channel itself.
    let fetched = bob
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert_eq!(etag(fetched.headers()), tag);
    assert_eq!(fetched.into_inner(), general);
    // The creator is its owner member.
    let owner = add_member(&alice, general.id, alice.id)
        .await
        .expect("already a member");
    assert_eq!(owner.status().as_u16(), 200);
    assert_eq!(owner.role, types::ChannelMemberRole::Owner);

    let secret = channel(&alice, "secret", private()).await;
    assert_eq!(secret.visibility, private());
    assert!(secret.topic.is_none());

    // Names are unique, whoever asks.
    let taken = bob
        .client
        .create_channel()
        .body(types::CreateChannelRequest {
            name: "release-planning".parse().expect("name"),
            topic: None,
            visibility: Some(private()),
        })
        .send()
        .await;
    fail(taken, 409, "CHANNEL_NAME_TAKEN");

    // Names are lowercase letters, digits, `-` and `_`.
    let bad = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"name": "Release Planning"}))
        .send()
        .await
        .expect("raw create");
    let bad = raw_problem(bad, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&bad, "body"), set(&["#/name"]));

    // With a write key.
    let key = new_key(&bob, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .create_channel()
        .body(types::CreateChannelRequest {
            name: "bots".parse().expect("name"),
            topic: None,
            visibility: None,
        })
        .send()
        .await
        .expect("create with key");
    assert_eq!(by_key.status().as_u16(), 201);
    assert_eq!(by_key.owner_id, bob.id);

    fail(
        server
            .anonymous()
            .create_channel()
            .body(types::CreateChannelRequest {
                name: "anon".parse().expect("name"),
                topic: None,
                visibility: None,
            })
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(list_channels, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let a1 = channel(&alice, "a1", public()).await;
    let hidden = channel(&alice, "alice-private", private()).await;
    let b1 = channel(&bob, "b1", public()).await;
    let bobs_secret = channel(&bob, "bob-private", private()).await;
    let a2 = channel(&alice, "a2", public()).await;

    let walk = |user: &TestUser| {
        let client = user.client.clone();
        async move {
            let mut ids = Vec::new();
            let mut sizes = Vec::new();
            let mut first_cursor = None;
            let mut cursor: Option<String> = None;
            loop {
                let mut request = client.list_channels().limit(2u32);
                if let Some(cursor) = &cursor {
                    request = request.cursor(cursor.as_str());
                }
                let page = request.send().await.expect("page").into_inner();
                sizes.push(page.items.len());
                ids.extend(page.items.iter().map(|c| c.id));
                match page.next_cursor {
                    Some(next) => {
                        first_cursor.get_or_insert_with(|| next.to_string());
                        cursor = Some(next.to_string());
                    }
                    None => break,
                }
                assert!(sizes.len() < 10, "pagination does not end");
            }
            (ids, sizes, first_cursor)
        }
    };

    // Every public channel and the private ones the caller belongs to.
    let (ids, sizes, alice_cursor) = walk(&alice).await;
    assert_eq!(sizes, [2, 2]);
    no_duplicates(&ids);
    assert_eq!(ids, [a1.id, hidden.id, b1.id, a2.id]);
    let (ids, sizes, _) = walk(&bob).await;
    assert_eq!(sizes, [2, 2]);
    assert_eq!(ids, [a1.id, b1.id, bobs_secret.id, a2.id]);

    // Membership makes a private channel visible.
    add_member(&alice, hidden.id, bob.id)
        .await
        .expect("add Bob");
    let (ids, sizes, _) = walk(&bob).await;
    assert_eq!(sizes, [2, 2, 1]);
    no_duplicates(&ids);
    assert_eq!(ids, [a1.id, hidden.id, b1.id, bobs_secret.id, a2.id]);
    let page = bob
        .client
        .list_channels()
        .send()
        .await
        .expect("one page")
        .into_inner();
    assert_eq!(page.items.len(), 5);
    assert!(page.next_cursor.is_none());
    assert_eq!(page.items[1].name.as_str(), "alice-private");
    assert_eq!(page.items[1].visibility, private());

    // Cursors belong to their caller and listing.
    let alice_cursor = alice_cursor.expect("a cursor");
    fail(
        bob.client
            .list_channels()
            .cursor(alice_cursor.as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    fail(
        alice
            .client
            .list_channels()
            .cursor(tamper(&alice_cursor).as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    let users_cursor = alice
        .client
        .list_users()
        .limit(1u32)
        .send()
        .await
        .expect("users")
        .into_inner()
        .next_cursor
        .expect("two users, one per page");
    fail(
        alice
            .client
            .list_channels()
            .cursor(users_cursor.as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );

    // With a read key.
    let key = new_key(&bob, "reader", &[types::ApiKeyScope::Read]).await;
    let via_key = with_key(&server, &key)
        .list_channels()
        .send()
        .await
        .expect("key")
        .into_inner();
    assert_eq!(via_key.items.len(), 5);

    let too_big = fail(
        alice.client.list_channels().limit(101u32).send().await,
        422,
        "VALIDATION_FAILED",
    );
    assert_eq!(pointer_set(&too_big), set(&["#/limit"]));
    fail(
        server.anonymous().list_channels().send().await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(get_channel, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;

    let response = bob
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    let tag = etag(response.headers());
    assert_eq!(response.into_inner(), general);

    // Conditional requests.
    not_modified(
        bob.client
            .get_channel()
            .channel_id(general.id)
            .if_none_match(tag.as_str())
            .send()
            .await,
        &tag,
    )
    .await;
    alice
        .client
        .update_channel()
        .channel_id(general.id)
        .body(types::UpdateChannelRequest {
            name: None,
            topic: Some("news".parse().expect("topic")),
        })
        .send()
        .await
        .expect("update");
    let changed = bob
        .client
        .get_channel()
        .channel_id(general.id)
        .if_none_match(tag.as_str())
        .send()
        .await
        .expect("changed");
    assert_eq!(changed.status().as_u16(), 200);
    assert_ne!(etag(changed.headers()), tag);
    assert_eq!(changed.topic.as_deref().map(String::as_str), Some("news"));

    // A private channel does not exist for non-members...
    let hidden = fail(
        bob.client.get_channel().channel_id(secret.id).send().await,
        404,
        "NOT_FOUND",
    );
    let unknown = fail(
        bob.client
            .get_channel()
            .channel_id(Uuid::new_v4())
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(hidden.detail, unknown.detail, "existence is not revealed");
    // ...until they become members.
    add_member(&alice, secret.id, bob.id)
        .await
        .expect("add Bob");
    let visible = bob
        .client
        .get_channel()
        .channel_id(secret.id)
        .send()
        .await
        .expect("member");
    assert_eq!(visible.id, secret.id);
    assert_eq!(visible.visibility, private());
    let owner_view = alice
        .client
        .get_channel()
        .channel_id(secret.id)
        .send()
        .await
        .expect("own");
    assert_eq!(owner_view.into_inner(), visible.into_inner());

    // With a read key.
    let key = new_key(&bob, "reader", &[types::ApiKeyScope::Read]).await;
    let via_key = with_key(&server, &key)
        .get_channel()
        .channel_id(secret.id)
        .send()
        .await
        .expect("key");
    assert_eq!(via_key.id, secret.id);

    fail(
        server
            .anonymous()
            .get_channel()
            .channel_id(general.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(update_channel, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    channel(&alice, "taken", public()).await;
    add_member(&alice, general.id, bob.id)
        .await
        .expect("add Bob");
    let tag0 = etag(
        alice
            .client
            .get_channel()
            .channel_id(general.id)
            .send()
            .await
            .expect("get")
            .headers(),
    );
    let change = |name: Option<&str>, topic: Option<&str>| types::UpdateChannelRequest {
        name: name.map(|n| n.parse().expect("name")),
        topic: topic.map(|t| t.parse().expect("topic")),
    };

    let updated = alice
        .client
        .update_channel()
        .channel_id(general.id)
        .if_match(tag0.as_str())
        .body(change(Some("town-square"), Some("Anything goes")))
        .send()
        .await
        .expect("update");
    assert_eq!(updated.status().as_u16(), 200);
    let tag1 = etag(updated.headers());
    assert_ne!(tag1, tag0);
    let renamed = updated.into_inner();
    assert_eq!(renamed.id, general.id);
    assert_eq!(renamed.name.as_str(), "town-square");
    assert_eq!(
        renamed.topic.as_deref().map(String::as_str),
        Some("Anything goes")
    );
    assert_eq!(renamed.created_at, general.created_at);
    assert!(renamed.updated_at >= general.updated_at);
    let fetched = bob
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert_eq!(etag(fetched.headers()), tag1);
    assert_eq!(fetched.into_inner(), renamed);

    // Only the fields present change.
    let topic_only = alice
        .client
        .update_channel()
        .channel_id(general.id)
        .body(change(None, Some("Read the rules")))
        .send()
        .await
        .expect("topic only");
    assert_eq!(topic_only.name.as_str(), "town-square");
    // `null` clears the topic (the typed client cannot send null).
    let cleared = server
        .raw()
        .patch(server.url(&format!("/api/v2/channels/{}", general.id)))
        .bearer_auth(&alice.access_token)
        .json(&json!({"topic": null}))
        .send()
        .await
        .expect("clear topic");
    assert_eq!(cleared.status().as_u16(), 200);
    let cleared: Value = cleared.json().await.expect("json");
    assert_eq!(cleared["topic"], Value::Null);
    assert_eq!(cleared["name"], "town-square");

    // A stale If-Match changes nothing.
    fail(
        alice
            .client
            .update_channel()
            .channel_id(general.id)
            .if_match(tag1.as_str())
            .body(change(Some("lost-update"), None))
            .send()
            .await,
        412,
        "PRECONDITION_FAILED",
    );
    let current = alice
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert_eq!(current.name.as_str(), "town-square");

    // Names stay unique.
    fail(
        alice
            .client
            .update_channel()
            .channel_id(general.id)
            .body(change(Some("taken"), None))
            .send()
            .await,
        409,
        "CHANNEL_NAME_TAKEN",
    );
    // Members who are not the owner may not; non-members of a private
    // channel do not even see it.
    fail(
        bob.client
            .update_channel()
            .channel_id(general.id)
            .body(change(None, Some("mine now")))
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    fail(
        carol
            .client
            .update_channel()
            .channel_id(general.id)
            .body(change(None, Some("mine now")))
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    fail(
        bob.client
            .update_channel()
            .channel_id(secret.id)
            .body(change(None, Some("mine now")))
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    fail(
        alice
            .client
            .update_channel()
            .channel_id(Uuid::new_v4())
            .body(change(None, Some("x")))
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    let current = alice
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert!(current.topic.is_none(), "refused updates changed nothing");

    // At least one field.
    let empty = fail(
        alice
            .client
            .update_channel()
            .channel_id(general.id)
            .body(change(None, None))
            .send()
            .await,
        422,
        "VALIDATION_FAILED",
    );
    assert!(!empty.errors.is_empty());

    // With a write key of the owner.
    let key = new_key(&alice, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .update_channel()
        .channel_id(secret.id)
        .body(change(None, Some("by bot")))
        .send()
        .await
        .expect("update with key");
    assert_eq!(by_key.topic.as_deref().map(String::as_str), Some("by bot"));

    fail(
        server
            .anonymous()
            .update_channel()
            .channel_id(general.id)
            .body(change(None, Some("x")))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(delete_channel, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    add_member(&alice, general.id, bob.id)
        .await
        .expect("add Bob");
    post(&bob, general.id, "hello").await;
    let tag = etag(
        alice
            .client
            .get_channel()
            .channel_id(general.id)
            .send()
            .await
            .expect("get")
            .headers(),
    );

    // Not the owner: 403 for a member, 404 for a non-member of a private channel.
    fail(
        bob.client
            .delete_channel()
            .channel_id(general.id)
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    fail(
        bob.client
            .delete_channel()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    fail(
        server
            .anonymous()
            .delete_channel()
            .channel_id(general.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    // A stale If-Match.
    alice
        .client
        .update_channel()
        .channel_id(general.id)
        .body(types::UpdateChannelRequest {
            name: None,
            topic: Some("changed".parse().expect("topic")),
        })
        .send()
        .await
        .expect("update");
    fail(
        alice
            .client
            .delete_channel()
            .channel_id(general.id)
            .if_match(tag.as_str())
            .send()
            .await,
        412,
        "PRECONDITION_FAILED",
    );
    bob.client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("still there");

    // With the current ETag.
    let current = etag(
        alice
            .client
            .get_channel()
            .channel_id(general.id)
            .send()
            .await
            .expect("get")
            .headers(),
    );
    let deleted = alice
        .client
        .delete_channel()
        .channel_id(general.id)
        .if_match(current.as_str())
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    fail(
        bob.client.get_channel().channel_id(general.id).send().await,
        404,
        "NOT_FOUND",
    );
    fail(
        bob.client
            .list_messages()
            .channel_id(general.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    fail(
        alice
            .client
            .delete_channel()
            .channel_id(general.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    let left = alice
        .client
        .list_channels()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        left.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [secret.id]
    );
    // The name is free again.
    let reborn = channel(&alice, "general", public()).await;
    assert_ne!(reborn.id, general.id);
    let messages = bob
        .client
        .list_messages()
        .channel_id(reborn.id)
        .send()
        .await
        .expect("messages")
        .into_inner();
    assert!(messages.items.is_empty());

    // Unconditionally, with a write key.
    let key = new_key(&alice, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .delete_channel()
        .channel_id(secret.id)
        .send()
        .await
        .expect("delete with key");
    assert_eq!(by_key.status().as_u16(), 204);
    fail(
        alice
            .client
            .get_channel()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
});

contract_test!(add_channel_member, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let secret = channel(&alice, "secret", private()).await;

    let added = add_member(&alice, secret.id, bob.id).await.expect("add");
    assert_eq!(added.status().as_u16(), 201);
    let membership = added.into_inner();
    assert_eq!(membership.channel_id, secret.id);
    assert_eq!(membership.user_id, bob.id);
    assert_eq!(membership.role, types::ChannelMemberRole::Member);
    // Idempotent: 200 with the existing membership.
    let again = add_member(&alice, secret.id, bob.id).await.expect("again");
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.into_inner(), membership);
    // Bob now sees the channel, Carol does not.
    bob.client
        .get_channel()
        .channel_id(secret.id)
        .send()
        .await
        .expect("visible to Bob");
    fail(
        carol
            .client
            .get_channel()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );

    // Only the owner adds: a member gets 403, a non-member of a private channel 404.
    fail(
        add_member(&bob, secret.id, carol.id).await,
        403,
        "FORBIDDEN",
    );
    fail(
        add_member(&carol, secret.id, carol.id).await,
        404,
        "NOT_FOUND",
    );
    fail(
        carol
            .client
            .get_channel()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    // Unknown user, unknown channel.
    fail(
        add_member(&alice, secret.id, Uuid::new_v4()).await,
        404,
        "NOT_FOUND",
    );
    fail(
        add_member(&alice, Uuid::new_v4(), carol.id).await,
        404,
        "NOT_FOUND",
    );
    fail(
        server
            .anonymous()
            .add_channel_member()
            .channel_id(secret.id)
            .user_id(carol.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );

    // Public channels too, and with a write key.
    let general = channel(&alice, "general", public()).await;
    fail(
        add_member(&bob, general.id, carol.id).await,
        403,
        "FORBIDDEN",
    );
    let key = new_key(&alice, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .add_channel_member()
        .channel_id(general.id)
        .user_id(carol.id)
        .send()
        .await
        .expect("add with key");
    assert_eq!(by_key.status().as_u16(), 201);
    assert_eq!(by_key.role, types::ChannelMemberRole::Member);
});

contract_test!(remove_channel_member, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dave = server.user("Dave").await;
    let secret = channel(&alice, "secret", private()).await;
    for user in [&bob, &carol] {
        add_member(&alice, secret.id, user.id).await.expect("add");
    }
    let remove = |client: &v2::Client, user: Uuid| {
        let client = client.clone();
        async move {
            client
                .remove_channel_member()
                .channel_id(secret.id)
                .user_id(user)
                .send()
                .await
        }
    };

    // A member may not remove another member; the owner may not leave.
    fail(remove(&bob.client, carol.id).await, 403, "FORBIDDEN");
    fail(remove(&alice.client, alice.id).await, 403, "FORBIDDEN");
    // A non-member does not see the private channel.
    fail(remove(&dave.client, bob.id).await, 404, "NOT_FOUND");
    fail(remove(&dave.client, dave.id).await, 404, "NOT_FOUND");

    // The owner removes Bob.
    let removed = remove(&alice.client, bob.id).await.expect("remove Bob");
    assert_eq!(removed.status().as_u16(), 204);
    fail(
        bob.client.get_channel().channel_id(secret.id).send().await,
        404,
        "NOT_FOUND",
    );
    // Not a member (any more), unknown user.
    fail(remove(&alice.client, bob.id).await, 404, "NOT_FOUND");
    fail(remove(&alice.client, dave.id).await, 404, "NOT_FOUND");
    fail(
        remove(&alice.client, Uuid::new_v4()).await,
        404,
        "NOT_FOUND",
    );

    // Carol leaves by herself.
    let left = remove(&carol.client, carol.id).await.expect("leave");
    assert_eq!(left.status().as_u16(), 204);
    fail(
        carol
            .client
            .get_channel()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    // Re-adding is a new membership.
    let back = add_member(&alice, secret.id, carol.id)
        .await
        .expect("re-add");
    assert_eq!(back.status().as_u16(), 201);

    fail(
        server
            .anonymous()
            .remove_channel_member()
            .channel_id(secret.id)
            .user_id(carol.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
    fail(
        alice
            .client
            .remove_channel_member()
            .channel_id(Uuid::new_v4())
            .user_id(carol.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
});

// ---------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------

contract_test!(create_message, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;

    let created = alice
        .client
        .create_message()
        .channel_id(general.id)
        .body(message_body("The release branch is cut."))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status().as_u16(), 201);
    let location = header(created.headers(), "location");
    let message = created.into_inner();
    assert_eq!(
        location,
        format!("/api/v2/channels/{}/messages/{}", general.id, message.id)
    );
    assert_eq!(message.channel_id, general.id);
    assert_eq!(message.author_id, alice.id);
    assert_eq!(message.body.as_str(), "The release branch is cut.");

    // Anyone may post in a public channel; only members in a private one.
    let by_bob = post(&bob, general.id, "ack").await;
    assert_eq!(by_bob.author_id, bob.id);
    fail(
        bob.client
            .create_message()
            .channel_id(secret.id)
            .body(message_body("let me in"))
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    fail(
        bob.client
            .create_message()
            .channel_id(Uuid::new_v4())
            .body(message_body("anyone?"))
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    add_member(&alice, secret.id, bob.id)
        .await
        .expect("add Bob");
    assert_eq!(post(&bob, secret.id, "thanks").await.channel_id, secret.id);

    // Idempotency-Key: the same key and body replay the first response.
    let send = |user: &TestUser, key: &str, text: &str| {
        let client = user.client.clone();
        let key = key.to_owned();
        let text = text.to_owned();
        async move {
            client
                .create_message()
                .channel_id(general.id)
                .idempotency_key(key.as_str())
                .body(message_body(&text))
                .send()
                .await
        }
    };
    let first = send(&alice, "6f1d3c1e-msg-retry-0001", "deploying now")
        .await
        .expect("first");
    assert_eq!(first.status().as_u16(), 201);
    let first_location = header(first.headers(), "location");
    let first = first.into_inner();
    let replay = send(&alice, "6f1d3c1e-msg-retry-0001", "deploying now")
        .await
        .expect("replay");
    assert_eq!(replay.status().as_u16(), 201);
    assert_eq!(header(replay.headers(), "location"), first_location);
    assert_eq!(replay.into_inner(), first);
    // The same key with another body is refused, and posts nothing.
    let reused = fail(
        send(&alice, "6f1d3c1e-msg-retry-0001", "deploying later").await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    assert!(reused.detail.is_some());
    // Keys are per user: Bob's use of the same key is a request of its own.
    let bobs = send(&bob, "6f1d3c1e-msg-retry-0001", "deploying now")
        .await
        .expect("Bob");
    assert_eq!(bobs.status().as_u16(), 201);
    assert_ne!(bobs.id, first.id);
    assert_eq!(bobs.author_id, bob.id);
    let other_key = send(&alice, "6f1d3c1e-msg-retry-0002", "deploying now")
        .await
        .expect("new key");
    assert_ne!(other_key.id, first.id);
    // Without a key, every request posts.
    let twice = [
        post(&carol, general.id, "same text").await,
        post(&carol, general.id, "same text").await,
    ];
    assert_ne!(twice[0].id, twice[1].id);

    let listed = alice
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("list")
        .into_inner();
    let bodies: Vec<_> = listed.items.iter().map(|m| m.body.to_string()).collect();
    assert_eq!(
        bodies,
        [
            "same text",
            "same text",
            "deploying now",
            "deploying now",
            "deploying now",
            "ack",
            "The release branch is cut.",
        ]
    );
    assert_eq!(
        listed.items.iter().filter(|m| m.id == first.id).count(),
        1,
        "the replay posted nothing"
    );

    // An empty or oversize body, sent raw since the typed client refuses.
    for body in [String::new(), "x".repeat(4001)] {
        let bad = server
            .raw()
            .post(server.url(&format!("/api/v2/channels/{}/messages", general.id)))
            .bearer_auth(&alice.access_token)
            .json(&json!({ "body": body }))
            .send()
            .await
            .expect("raw post");
        let bad = raw_problem(bad, 422, "VALIDATION_FAILED").await;
        assert_eq!(raw_pointers(&bad, "body"), set(&["#/body"]));
    }
    // The Idempotency-Key must be printable ASCII without spaces.
    let bad_key = server
        .raw()
        .post(server.url(&format!("/api/v2/channels/{}/messages", general.id)))
        .bearer_auth(&alice.access_token)
        .header("idempotency-key", "has spaces")
        .json(&json!({"body": "hello"}))
        .send()
        .await
        .expect("raw post");
    let bad_key = raw_problem(bad_key, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        raw_pointers(&bad_key, "header"),
        set(&["#/Idempotency-Key"])
    );
    // A 4000-character body is fine.
    let long = post(&alice, general.id, &"y".repeat(4000)).await;
    assert_eq!(long.body.len(), 4000);

    // With a write key.
    let key = new_key(&carol, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .create_message()
        .channel_id(general.id)
        .body(message_body("beep"))
        .send()
        .await
        .expect("post with key");
    assert_eq!(by_key.author_id, carol.id);

    fail(
        server
            .anonymous()
            .create_message()
            .channel_id(general.id)
            .body(message_body("anon"))
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(list_messages, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    let other = channel(&alice, "other", public()).await;
    let mut posted = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        posted.push(post(author, general.id, &format!("message {i}")).await);
    }
    post(&alice, other.id, "elsewhere").await;
    post(&alice, secret.id, "hush").await;

    // Newest first, in pages of two, no duplicates, no cursor on the last page.
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut first_cursor = None;
    let mut cursor: Option<String> = None;
    loop {
        let mut request = bob
            .client
            .list_messages()
            .channel_id(general.id)
            .limit(2u32);
        if let Some(cursor) = &cursor {
            request = request.cursor(cursor.as_str());
        }
        let page = request.send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let page = page.into_inner();
        assert!(page.items.iter().all(|m| m.channel_id == general.id));
        sizes.push(page.items.len());
        ids.extend(page.items.iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => {
                first_cursor.get_or_insert_with(|| next.to_string());
                cursor = Some(next.to_string());
            }
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, [2, 2, 1]);
    no_duplicates(&ids);
    let newest_first: Vec<_> = posted.iter().rev().map(|m| m.id).collect();
    assert_eq!(ids, newest_first);

    let all = bob
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("all")
        .into_inner();
    assert!(all.next_cursor.is_none());
    assert_eq!(all.items.len(), 5);
    assert_eq!(all.items[0], posted[4]);
    assert_eq!(all.items[4].body.as_str(), "message 0");
    assert!(
        all.items
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );

    // Cursors belong to their channel and caller.
    let cursor = first_cursor.expect("a cursor");
    fail(
        bob.client
            .list_messages()
            .channel_id(other.id)
            .cursor(cursor.as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    fail(
        alice
            .client
            .list_messages()
            .channel_id(general.id)
            .cursor(cursor.as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );
    fail(
        bob.client
            .list_messages()
            .channel_id(general.id)
            .cursor(tamper(&cursor).as_str())
            .send()
            .await,
        400,
        "INVALID_CURSOR",
    );

    // A private channel is readable by members only.
    fail(
        bob.client
            .list_messages()
            .channel_id(secret.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    let hushed = alice
        .client
        .list_messages()
        .channel_id(secret.id)
        .send()
        .await
        .expect("owner reads")
        .into_inner();
    assert_eq!(hushed.items.len(), 1);
    assert_eq!(hushed.items[0].body.as_str(), "hush");
    fail(
        bob.client
            .list_messages()
            .channel_id(Uuid::new_v4())
            .send()
            .await,
        404,
        "NOT_FOUND",
    );

    // With a read key.
    let key = new_key(&bob, "reader", &[types::ApiKeyScope::Read]).await;
    let via_key = with_key(&server, &key)
        .list_messages()
        .channel_id(general.id)
        .limit(1u32)
        .send()
        .await
        .expect("key")
        .into_inner();
    assert_eq!(via_key.items, [posted[4].clone()]);
    assert!(via_key.next_cursor.is_some());

    let too_big = fail(
        bob.client
            .list_messages()
            .channel_id(general.id)
            .limit(101u32)
            .send()
            .await,
        422,
        "VALIDATION_FAILED",
    );
    assert_eq!(pointer_set(&too_big), set(&["#/limit"]));
    fail(
        server
            .anonymous()
            .list_messages()
            .channel_id(general.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );
});

contract_test!(delete_message, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let general = channel(&alice, "general", public()).await;
    let other = channel(&alice, "other", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    let bobs = post(&bob, general.id, "bob's").await;
    let bobs_second = post(&bob, general.id, "bob's second").await;
    let alices = post(&alice, general.id, "alice's").await;
    let hidden = post(&alice, secret.id, "hidden").await;
    let delete = |client: &v2::Client, channel: Uuid, message: Uuid| {
        let client = client.clone();
        async move {
            client
                .delete_message()
                .channel_id(channel)
                .message_id(message)
                .send()
                .await
        }
    };

    // Neither the author nor the channel owner.
    fail(
        delete(&carol.client, general.id, bobs.id).await,
        403,
        "FORBIDDEN",
    );
    fail(
        delete(&bob.client, general.id, alices.id).await,
        403,
        "FORBIDDEN",
    );
    // The message of another channel, an unknown one, a private channel.
    fail(
        delete(&bob.client, other.id, bobs.id).await,
        404,
        "NOT_FOUND",
    );
    fail(
        delete(&bob.client, general.id, Uuid::new_v4()).await,
        404,
        "NOT_FOUND",
    );
    fail(
        delete(&bob.client, secret.id, hidden.id).await,
        404,
        "NOT_FOUND",
    );
    fail(
        server
            .anonymous()
            .delete_message()
            .channel_id(general.id)
            .message_id(bobs.id)
            .send()
            .await,
        401,
        "UNAUTHENTICATED",
    );

    // The author deletes their message.
    let deleted = delete(&bob.client, general.id, bobs.id)
        .await
        .expect("author deletes");
    assert_eq!(deleted.status().as_u16(), 204);
    fail(
        delete(&bob.client, general.id, bobs.id).await,
        404,
        "NOT_FOUND",
    );
    // The channel owner deletes anyone's.
    let moderated = delete(&alice.client, general.id, bobs_second.id)
        .await
        .expect("owner deletes");
    assert_eq!(moderated.status().as_u16(), 204);
    let left = carol
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        left.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        [alices.id]
    );

    // With a write key of the author.
    let key = new_key(&alice, "bot", &[types::ApiKeyScope::Write]).await;
    let by_key = with_key(&server, &key)
        .delete_message()
        .channel_id(secret.id)
        .message_id(hidden.id)
        .send()
        .await
        .expect("delete with key");
    assert_eq!(by_key.status().as_u16(), 204);
});

// ---------------------------------------------------------------------------
// Cross-cutting behaviour
// ---------------------------------------------------------------------------

contract_test!(api_key_scopes_are_enforced, |server| {
    let alice = server.user("Alice").await;
    let general = channel(&alice, "general", public()).await;
    let reader = with_key(
        &server,
        &new_key(&alice, "reader", &[types::ApiKeyScope::Read]).await,
    );
    let writer = with_key(
        &server,
        &new_key(&alice, "writer", &[types::ApiKeyScope::Write]).await,
    );

    // A read-only key reads, and is refused every write.
    reader
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("read");
    fail(
        reader
            .update_channel()
            .channel_id(general.id)
            .body(types::UpdateChannelRequest {
                name: None,
                topic: Some("read-only?".parse().expect("topic")),
            })
            .send()
            .await,
        403,
        "INSUFFICIENT_SCOPE",
    );
    fail(
        reader.delete_channel().channel_id(general.id).send().await,
        403,
        "INSUFFICIENT_SCOPE",
    );
    fail(
        reader
            .create_message()
            .channel_id(general.id)
            .body(message_body("read-only?"))
            .send()
            .await,
        403,
        "INSUFFICIENT_SCOPE",
    );
    fail(
        reader
            .create_channel()
            .body(types::CreateChannelRequest {
                name: "read-only".parse().expect("name"),
                topic: None,
                visibility: None,
            })
            .send()
            .await,
        403,
        "INSUFFICIENT_SCOPE",
    );
    let unchanged = alice
        .client
        .get_channel()
        .channel_id(general.id)
        .send()
        .await
        .expect("get");
    assert!(unchanged.topic.is_none());
    let messages = alice
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(messages.items.is_empty(), "nothing was posted");

    // A write-only key writes but does not read.
    let posted = writer
        .create_message()
        .channel_id(general.id)
        .body(message_body("write-only"))
        .send()
        .await
        .expect("write");
    assert_eq!(posted.author_id, alice.id);
    fail(
        writer.get_channel().channel_id(general.id).send().await,
        403,
        "INSUFFICIENT_SCOPE",
    );
});

contract_test!(validation_reports_every_violation, |server| {
    let alice = server.user("Alice").await;

    // Wrong type, overlong string, bad email and an unknown field, at once.
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .json(&json!({
            "email": "not-an-email",
            "password": 12345678,
            "full_name": "x".repeat(101),
            "extra": true,
        }))
        .send()
        .await
        .expect("register");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(body["instance"], "/api/v2/auth/register");
    assert_eq!(
        raw_pointers(&body, "body"),
        set(&["#/email", "#/password", "#/full_name", "#/extra"])
    );

    // Every missing required field.
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .json(&json!({}))
        .send()
        .await
        .expect("register");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        raw_pointers(&body, "body"),
        set(&["#/email", "#/password", "#/full_name"])
    );

    // Missing and invalid together, on an authenticated operation.
    let response = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"topic": "t".repeat(501), "visibility": "secret", "extra": 1}))
        .send()
        .await
        .expect("create channel");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        raw_pointers(&body, "body"),
        set(&["#/name", "#/topic", "#/visibility", "#/extra"])
    );
    let listed = alice
        .client
        .list_channels()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(listed.items.is_empty(), "nothing was created");

    // Path and query parameters are reported together.
    let response = server
        .raw()
        .get(server.url("/api/v2/channels/not-a-uuid/messages?limit=0&cursor=%21%21"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("list messages");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    let errors = body["errors"].as_array().expect("errors");
    let located: HashSet<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["location"].as_str().unwrap_or_default().to_owned(),
                e["pointer"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: HashSet<(String, String)> = [
        ("path", "#/channel_id"),
        ("query", "#/limit"),
        ("query", "#/cursor"),
    ]
    .iter()
    .map(|(l, p)| ((*l).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(located, expected, "{body}");

    // A query parameter of the wrong type.
    let response = server
        .raw()
        .get(server.url("/api/v2/users?limit=ten"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("list users");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&body, "query"), set(&["#/limit"]));

    // A body that is not an object at all.
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/login"))
        .json(&json!(["ada@example.com", "password"]))
        .send()
        .await
        .expect("login");
    let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(!raw_pointers(&body, "body").is_empty());
});

contract_test!(malformed_json_is_400, |server| {
    let alice = server.user("Alice").await;
    for (path, token) in [
        ("/api/v2/auth/register", None),
        ("/api/v2/channels", Some(alice.access_token.as_str())),
    ] {
        let mut request = server
            .raw()
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(r#"{"email": "ada@example.com", "#);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send");
        let body = raw_problem(response, 400, "MALFORMED_JSON").await;
        assert_eq!(body["instance"], path);
        assert!(
            body.get("errors")
                .is_none_or(|e| e.as_array().is_some_and(|a| a.is_empty()))
        );
    }
    // Trailing garbage is malformed too.
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/login"))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@example.com", "password": "x"} trailing"#)
        .send()
        .await
        .expect("send");
    raw_problem(response, 400, "MALFORMED_JSON").await;
});

contract_test!(wrong_content_type_is_415, |server| {
    let alice = server.user("Alice").await;
    let valid =
        json!({"email": "ada@example.com", "password": PASSWORD, "full_name": "Ada"}).to_string();
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .header("content-type", "text/plain")
        .body(valid.clone())
        .send()
        .await
        .expect("send");
    let body = raw_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    assert_eq!(body["instance"], "/api/v2/auth/register");
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .body(valid)
        .send()
        .await
        .expect("send without content type");
    raw_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    // Nothing was registered.
    problem(
        login(&server, "ada@example.com", PASSWORD).await,
        401,
        "UNAUTHENTICATED",
    );

    let response = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=general")
        .send()
        .await
        .expect("send form");
    raw_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    // `application/json` with parameters is fine.
    let response = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"name": "general"}"#)
        .send()
        .await
        .expect("send json");
    assert_eq!(response.status().as_u16(), 201);
});

contract_test!(bad_uuid_path_is_422, |server| {
    let alice = server.user("Alice").await;
    let general = channel(&alice, "general", public()).await;
    let cases = [
        (
            "GET",
            "/api/v2/users/not-a-uuid".to_owned(),
            vec!["#/user_id"],
        ),
        (
            "GET",
            "/api/v2/channels/12345".to_owned(),
            vec!["#/channel_id"],
        ),
        (
            "DELETE",
            "/api/v2/api-keys/nope".to_owned(),
            vec!["#/key_id"],
        ),
        (
            "PUT",
            "/api/v2/channels/zzz/members/yyy".to_owned(),
            vec!["#/channel_id", "#/user_id"],
        ),
        (
            "DELETE",
            format!("/api/v2/channels/{}/messages/not-a-uuid", general.id),
            vec!["#/message_id"],
        ),
    ];
    for (method, path, expected) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = server
            .raw()
            .request(method, server.url(&path))
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("send");
        let body = raw_problem(response, 422, "VALIDATION_FAILED").await;
        assert_eq!(body["instance"], path.as_str());
        assert_eq!(raw_pointers(&body, "path"), set(&expected), "{path}");
    }
    // Credentials are checked first: without them it is 401.
    let response = server
        .raw()
        .get(server.url("/api/v2/users/not-a-uuid"))
        .send()
        .await
        .expect("send");
    raw_problem(response, 401, "UNAUTHENTICATED").await;
});

contract_test!(unknown_route_is_404, |server| {
    let alice = server.user("Alice").await;
    for path in [
        "/api/v2/nothing-here",
        "/api/v3/users",
        "/api/v2/users/a/b/c",
    ] {
        let response = server
            .raw()
            .get(server.url(path))
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("send");
        let body = raw_problem(response, 404, "NOT_FOUND").await;
        assert_eq!(body["instance"], path);
    }
    let response = server
        .raw()
        .post(server.url("/api/v2/nothing-here"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    raw_problem(response, 404, "NOT_FOUND").await;
});

contract_test!(wrong_method_is_405_with_allow, |server| {
    let alice = server.user("Alice").await;
    let cases = [
        ("PUT", "/api/v2/users", vec!["GET"]),
        ("DELETE", "/api/v2/me", vec!["GET", "PATCH"]),
        ("GET", "/api/v2/auth/login", vec!["POST"]),
        ("PATCH", "/api/v2/channels", vec!["GET", "POST"]),
    ];
    for (method, path, allowed) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = server
            .raw()
            .request(method.clone(), server.url(path))
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("send");
        let allow = header(response.headers(), "allow");
        let methods: HashSet<String> = allow.split(',').map(|m| m.trim().to_owned()).collect();
        for expected in &allowed {
            assert!(
                methods.contains(*expected),
                "{method} {path}: Allow {allow}"
            );
        }
        assert!(
            !methods.contains(method.as_str()),
            "{method} {path}: Allow {allow}"
        );
        let body = raw_problem(response, 405, "METHOD_NOT_ALLOWED").await;
        assert_eq!(body["instance"], path);
    }
});

// A small limit keeps the whole oversize body within socket buffers, so the
// client reads the early 413 instead of failing to write the rest.
contract_test!(
    oversize_body_is_413,
    config = |c: &mut charter::Config| c.max_body_bytes = 4096,
    |server| {
        let big = json!({
            "email": "ada@example.com",
            "password": PASSWORD,
            "full_name": "x".repeat(8 * 1024),
        });
        let response = server
            .raw()
            .post(server.url("/api/v2/auth/register"))
            .json(&big)
            .send()
            .await
            .expect("send");
        raw_problem(response, 413, "PAYLOAD_TOO_LARGE").await;
        problem(
            login(&server, "ada@example.com", PASSWORD).await,
            401,
            "UNAUTHENTICATED",
        );
    }
);

contract_test!(nul_characters_are_422, |server| {
    // PostgreSQL text cannot hold NUL; both backends refuse it the same way
    // instead of storing it (SQLite) or failing with a 500 (PostgreSQL).
    let alice = server.user("Alice").await;
    let general = channel(&alice, "general", public()).await;
    let cases = [
        (
            "POST",
            "/api/v2/auth/register".to_owned(),
            json!({"email": "nul@example.com", "password": PASSWORD, "full_name": "Ada\u{0}"}),
            false,
            "#/full_name",
        ),
        (
            "PATCH",
            "/api/v2/me".to_owned(),
            json!({"full_name": "Ada\u{0}"}),
            true,
            "#/full_name",
        ),
        (
            "POST",
            "/api/v2/api-keys".to_owned(),
            json!({"name": "key\u{0}", "scopes": ["read"]}),
            true,
            "#/name",
        ),
        (
            "POST",
            "/api/v2/channels".to_owned(),
            json!({"name": "nul", "topic": "topic\u{0}"}),
            true,
            "#/topic",
        ),
        (
            "PATCH",
            format!("/api/v2/channels/{}", general.id),
            json!({"topic": "topic\u{0}"}),
            true,
            "#/topic",
        ),
        (
            "POST",
            format!("/api/v2/channels/{}/messages", general.id),
            json!({"body": "body\u{0}"}),
            true,
            "#/body",
        ),
    ];
    for (method, path, body, authenticated, pointer) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = server.raw().request(method, server.url(&path)).json(&body);
        if authenticated {
            request = request.bearer_auth(&alice.access_token);
        }
        let response = request.send().await.expect("send");
        let problem = raw_problem(response, 422, "VALIDATION_FAILED").await;
        assert_eq!(raw_pointers(&problem, "body"), set(&[pointer]), "{path}");
    }
    // Nothing was stored.
    problem(
        login(&server, "nul@example.com", PASSWORD).await,
        401,
        "UNAUTHENTICATED",
    );
    let me = alice.client.get_me().send().await.expect("me");
    assert_eq!(me.full_name.as_str(), "Alice");
    let channels = alice
        .client
        .list_channels()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(channels.items.len(), 1);
    assert_eq!(channels.items[0], general);
    let messages = alice
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("messages")
        .into_inner();
    assert!(messages.items.is_empty());
    assert!(
        alice
            .client
            .list_api_keys()
            .send()
            .await
            .expect("keys")
            .items
            .is_empty()
    );
});

/// Sends `count` copies of a request at once and returns the statuses and bodies.
async fn race(count: usize, request: reqwest::RequestBuilder) -> Vec<(u16, Value)> {
    let mut handles = Vec::new();
    for _ in 0..count {
        let request = request.try_clone().expect("cloneable request");
        handles.push(tokio::spawn(async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.expect("join"));
    }
    outcomes
}

contract_test!(concurrent_refresh_has_one_winner, |server| {
    let alice = server.user("Alice").await;
    let request = server
        .raw()
        .post(server.url("/api/v2/auth/refresh"))
        .json(&json!({"refresh_token": alice.refresh_token}));
    let outcomes = race(16, request).await;
    let statuses: Vec<u16> = outcomes.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    for (status, body) in &outcomes {
        if *status == 401 {
            assert_eq!(body["code"], "UNAUTHENTICATED");
        }
    }
});

contract_test!(concurrent_idempotent_posts_share_one_message, |server| {
    let alice = server.user("Alice").await;
    let general = channel(&alice, "general", public()).await;
    let request = server
        .raw()
        .post(server.url(&format!("/api/v2/channels/{}/messages", general.id)))
        .bearer_auth(&alice.access_token)
        .header("idempotency-key", "race-0001")
        .json(&json!({"body": "only once"}));
    let outcomes = race(8, request).await;
    assert!(outcomes.iter().all(|(s, _)| *s == 201), "{outcomes:?}");
    let ids: HashSet<String> = outcomes.iter().map(|(_, b)| b["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{outcomes:?}");
    let listed = alice
        .client
        .list_messages()
        .channel_id(general.id)
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.items.len(), 1);
});

contract_test!(concurrent_channel_names_conflict, |server| {
    let alice = server.user("Alice").await;
    let request = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"name": "race"}));
    let outcomes = race(8, request).await;
    let statuses: Vec<u16> = outcomes.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
});

// ---------------------------------------------------------------------------
// Live events (the typed readers on top of these calls are in tests/live.rs)

contract_test!(stream_channel_events, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", public()).await.id;
    let response = alice
        .client
        .stream_channel_events()
        .channel_id(room)
        .last_event_id(0)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "text/event-stream"
    );
    post(&alice, room, "hello").await;
    let mut body = response.into_inner().into_inner();
    let mut text = String::new();
    common::read_until(&mut body, &mut text, |text| {
        text.contains("event: message.created")
    })
    .await;
    // Last-Event-ID 0 replays the whole log, from its first event.
    assert!(text.contains("\nid: 1\n"), "{text}");

    let bob = server.user("Bob").await;
    let secret = channel(&alice, "secret", private()).await.id;
    // A byte stream has no Debug: compare the problems only.
    let refused =
        |result: Result<ResponseValue<charter_client::ByteStream>, Error<types::Problem>>| {
            match result {
                Err(Error::ErrorResponse(problem)) => (problem.status, problem.code.to_string()),
                Err(other) => panic!("expected a problem, got {other}"),
                Ok(_) => panic!("expected a problem, got a stream"),
            }
        };
    assert_eq!(
        refused(
            bob.client
                .stream_channel_events()
                .channel_id(secret)
                .send()
                .await
        ),
        (404, "NOT_FOUND".to_owned())
    );
    assert_eq!(
        refused(
            server
                .anonymous()
                .stream_channel_events()
                .channel_id(room)
                .send()
                .await
        ),
        (401, "UNAUTHENTICATED".to_owned())
    );
});

contract_test!(connect_web_socket, |server| {
    let alice = server.user("Alice").await;
    let upgraded = server
        .anonymous()
        .connect_web_socket()
        .sec_web_socket_protocol(format!("charter.v2, charter.bearer.{}", alice.access_token))
        .send()
        .await
        .expect("upgrade");
    assert_eq!(upgraded.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        header(upgraded.headers(), "sec-websocket-protocol"),
        "charter.v2",
        "the token is never echoed"
    );
    let refused = server
        .anonymous()
        .connect_web_socket()
        .sec_web_socket_protocol("charter.v2, charter.bearer.forged".to_owned())
        .send()
        .await;
    match refused {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (401, "UNAUTHENTICATED")
            );
        }
        other => panic!("expected 401, got {other:?}"),
    }
});
