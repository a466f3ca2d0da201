//! The caller's own profile and password.

use super::*;

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
});
