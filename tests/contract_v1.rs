//! Contract tests of the legacy v1 API, through the generated client.
//! One `contract_test!` per operation, named after its operationId; that an
//! anonymous call of an operation requiring credentials is refused is
//! checked for every operation at once, from the generated table.

mod common;

use charter_client::v1::types as t1;
use common::{PASSWORD, TestServer, problem_v1};

fn deprecation_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["deprecation"], "@1767225600");
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 23:59:59 GMT");
    let link = headers["link"].to_str().unwrap_or_default();
    assert!(link.contains("rel=\"deprecation\""), "{link}");
}

async fn v1_token(server: &TestServer, email: &str) -> String {
    server
        .anonymous_v1()
        .login()
        .body(t1::LoginRequest {
            email: email.parse().expect("email"),
            password: PASSWORD.parse().expect("password"),
        })
        .send()
        .await
        .expect("v1 login")
        .into_inner()
        .access_token
}

contract_test!(create_user, |server| {
    let client = server.anonymous_v1();
    let new_user = t1::NewUser {
        name: "Grace".parse().expect("name"),
        email: "grace@example.com".parse().expect("email"),
        password: PASSWORD.parse().expect("password"),
    };
    let created = client
        .create_user()
        .body(new_user.clone())
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status().as_u16(), 201);
    deprecation_headers(created.headers());
    let location = created.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let user = created.into_inner();
    assert_eq!(location, format!("/api/v1/users/{}", user.id));
    assert_eq!(user.name.as_str(), "Grace");

    // The same email again conflicts; the stored account is untouched.
    problem_v1(
        client.create_user().body(new_user).send().await,
        409,
        "EMAIL_TAKEN",
    );

    // v1 and v2 are views of the same row.
    let token = v1_token(&server, "grace@example.com").await;
    let me = server
        .v1_with_token(&token)
        .get_me()
        .send()
        .await
        .expect("me");
    assert_eq!(me.id, user.id);
});

contract_test!(login, |server| {
    let alice = server.user("Alice").await;
    let client = server.anonymous_v1();
    let token = client
        .login()
        .body(t1::LoginRequest {
            email: alice.email.parse().expect("email"),
            password: PASSWORD.parse().expect("password"),
        })
        .send()
        .await
        .expect("login");
    deprecation_headers(token.headers());
    let token = token.into_inner();
    assert!(token.expires_in.get() > 0);
    assert_eq!(token.token_type, t1::TokenTokenType::Bearer);

    let wrong = client
        .login()
        .body(t1::LoginRequest {
            email: alice.email.parse().expect("email"),
            password: "not the password".parse().expect("password"),
        })
        .send()
        .await;
    problem_v1(wrong, 401, "UNAUTHENTICATED");
});

contract_test!(get_me, |server| {
    let alice = server.user("Alice").await;
    let token = v1_token(&server, &alice.email).await;
    let me = server
        .v1_with_token(&token)
        .get_me()
        .send()
        .await
        .expect("me");
    deprecation_headers(me.headers());
    let me = me.into_inner();
    assert_eq!(me.name.as_str(), "Alice");
    assert_eq!(me.email.as_str(), alice.email);
    // A v2 access token works on v1: one account, one session model.
    let via_v2 = server
        .v1_with_token(&alice.access_token)
        .get_me()
        .send()
        .await;
    assert_eq!(via_v2.expect("v2 token on v1").id, me.id);
});

contract_test!(get_user, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let token = v1_token(&server, &alice.email).await;
    let client = server.v1_with_token(&token);
    let bob_v1 = client
        .list_users()
        .limit(std::num::NonZeroU64::new(100).expect("nonzero"))
        .send()
        .await
        .expect("list")
        .into_inner()
        .users
        .into_iter()
        .find(|u| u.name.as_str() == "Bob")
        .expect("bob is listed");
    let fetched = client
        .get_user()
        .id(bob_v1.id)
        .send()
        .await
        .expect("get user");
    deprecation_headers(fetched.headers());
    assert_eq!(fetched.into_inner(), bob_v1);
    let _ = bob;

    problem_v1(client.get_user().id(999_999).send().await, 404, "NOT_FOUND");
    // Ids the typed client refuses to send still get a problem from the server.
    for bad in ["0", "abc", "99999999999999999999"] {
        let response = server
            .raw()
            .get(server.url(&format!("/api/v1/users/{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("raw request");
        assert_eq!(response.status().as_u16(), 422, "id {bad}");
        deprecation_headers(response.headers());
        let body: serde_json::Value = response.json().await.expect("problem body");
        assert_eq!(body["errors"][0]["pointer"], "#/id");
    }
});

contract_test!(list_users, |server| {
    let alice = server.user("Alice").await;
    for name in ["Bob", "Carol", "Dan"] {
        server.user(name).await;
    }
    let token = v1_token(&server, &alice.email).await;
    let client = server.v1_with_token(&token);
    let first = client
        .list_users()
        .limit(std::num::NonZeroU64::new(2).expect("nonzero"))
        .send()
        .await
        .expect("page 1");
    deprecation_headers(first.headers());
    let first = first.into_inner();
    assert_eq!(first.users.len(), 2);
    assert_eq!((first.limit.get(), first.offset), (2, 0));
    let second = client
        .list_users()
        .limit(std::num::NonZeroU64::new(2).expect("nonzero"))
        .offset(2)
        .send()
        .await
        .expect("page 2")
        .into_inner();
    let names: Vec<_> = first
        .users
        .iter()
        .chain(&second.users)
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Carol", "Dan"]);

    let too_big = client
        .list_users()
        .limit(std::num::NonZeroU64::new(101).expect("nonzero"))
        .send()
        .await;
    let problem = problem_v1(too_big, 422, "VALIDATION_FAILED");
    assert_eq!(problem.errors[0].pointer.as_str(), "#/limit");
});

contract_test!(
    every_secured_operation_refuses_an_anonymous_call,
    |server| {
        let refusals = common::probe::refusals_of_anonymous_calls(
            &server,
            charter::api::V1_YAML,
            charter::api::v1::OPERATIONS,
            &["createUser", "login"],
            &["getMe", "getUser", "listUsers"],
        )
        .await;
        for (probe, response) in refusals {
            let what = format!("{} {}", probe.operation.method, probe.path);
            assert_eq!(response.status().as_u16(), 401, "{what}");
            let headers = response.headers().clone();
            deprecation_headers(&headers);
            assert_eq!(
                headers["content-type"], "application/problem+json",
                "{what}"
            );
            assert_eq!(
                headers["www-authenticate"], "Bearer realm=\"charter\"",
                "{what}"
            );
            let body: serde_json::Value = response.json().await.expect("problem body");
            assert_eq!(body["status"], 401, "{what}: {body}");
            assert_eq!(body["code"], "UNAUTHENTICATED", "{what}: {body}");
            assert_eq!(body["instance"], probe.path.as_str(), "{what}: {body}");
            let request_id = body["request_id"].as_str().unwrap_or_default();
            assert!(!request_id.is_empty(), "{what}: {body}");
            assert_eq!(headers["x-request-id"], request_id, "{what}");
        }
    }
);

// A small body limit keeps the oversize body within socket buffers, so the
// client reads the early 413 instead of failing to write the rest.
contract_test!(
    answers_outside_the_v1_routes_still_say_it_is_deprecated,
    config = |c: &mut charter::Config| c.max_body_bytes = 4096,
    |server| {
        let client = server.raw();
        // 404 (no such path), 405 (no such method), 413 (body too large):
        // made by the service's fallbacks and layers, not by the v1 router.
        let missing = client
            .get(server.url("/api/v1/no-such-thing"))
            .send()
            .await
            .expect("404");
        assert_eq!(missing.status().as_u16(), 404);
        deprecation_headers(missing.headers());
        let wrong_method = client
            .delete(server.url("/api/v1/me"))
            .send()
            .await
            .expect("405");
        assert_eq!(wrong_method.status().as_u16(), 405);
        deprecation_headers(wrong_method.headers());
        // v2 answers carry none of them.
        let v2_missing = client
            .get(server.url("/api/v2/no-such-thing"))
            .send()
            .await
            .expect("v2 404");
        assert!(!v2_missing.headers().contains_key("deprecation"));
        let oversize = server
            .raw()
            .post(server.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(vec![b' '; 8 * 1024])
            .send()
            .await
            .expect("413");
        assert_eq!(oversize.status().as_u16(), 413);
        deprecation_headers(oversize.headers());
    }
);
