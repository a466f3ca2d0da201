//! Registration, login, token refresh and logout.

use super::*;

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
