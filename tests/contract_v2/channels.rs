//! Channels: creating, listing, reading, updating and deleting them.

use super::*;

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
