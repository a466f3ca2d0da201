//! Public profiles and account deletion.

use super::*;

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

    // Bearer only: not with an API key, even an admin's.
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
