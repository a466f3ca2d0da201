//! How the server answers requests it cannot take as they are: invalid
//! fields, malformed or oversize bodies, wrong media types, unknown routes
//! and methods. Most are sent raw, since the typed client cannot express them.

use super::*;

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
