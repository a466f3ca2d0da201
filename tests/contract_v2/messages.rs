//! Messages posted in channels.

use super::*;

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

    let listed = messages_page(&alice.client, general.id).await;
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
    let left = messages_page(&carol.client, general.id).await;
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

contract_test!(get_message, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    let other = channel(&alice, "other", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    let posted = post(&alice, general.id, "read me").await;
    let hidden = post(&alice, secret.id, "hidden").await;

    let response = bob
        .client
        .get_message()
        .channel_id(general.id)
        .message_id(posted.id)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    let tag = etag(response.headers());
    assert_eq!(response.into_inner(), posted);
    assert_eq!(posted.edited_at, None, "never edited");

    // Conditional reads: 304 while current, 200 with a new tag once edited.
    not_modified(
        bob.client
            .get_message()
            .channel_id(general.id)
            .message_id(posted.id)
            .if_none_match(tag.as_str())
            .send()
            .await,
        &tag,
    )
    .await;
    edit(
        &alice.client,
        general.id,
        posted.id,
        None,
        "read me, edited",
    )
    .await
    .expect("edit");
    let changed = bob
        .client
        .get_message()
        .channel_id(general.id)
        .message_id(posted.id)
        .if_none_match(tag.as_str())
        .send()
        .await
        .expect("changed");
    assert_eq!(changed.status().as_u16(), 200);
    assert_ne!(etag(changed.headers()), tag);
    assert_eq!(changed.body.as_str(), "read me, edited");

    // Another channel's id, an unknown id, a private channel: all 404 alike.
    let get = |channel: Uuid, message: Uuid| {
        let client = bob.client.clone();
        async move {
            client
                .get_message()
                .channel_id(channel)
                .message_id(message)
                .send()
                .await
        }
    };
    let elsewhere = fail(get(other.id, posted.id).await, 404, "NOT_FOUND");
    let unknown = fail(get(general.id, Uuid::new_v4()).await, 404, "NOT_FOUND");
    fail(get(secret.id, hidden.id).await, 404, "NOT_FOUND");
    assert_eq!(elsewhere.detail, unknown.detail);

    // With a read key.
    let key = new_key(&bob, "reader", &[types::ApiKeyScope::Read]).await;
    let via_key = with_key(&server, &key)
        .get_message()
        .channel_id(general.id)
        .message_id(posted.id)
        .send()
        .await
        .expect("key");
    assert_eq!(via_key.id, posted.id);
});

/// `updateMessage` with an optional `If-Match`.
async fn edit(
    client: &v2::Client,
    channel: Uuid,
    message: Uuid,
    if_match: Option<&str>,
    text: &str,
) -> Call<types::Message> {
    let mut request = client
        .update_message()
        .channel_id(channel)
        .message_id(message)
        .body(types::UpdateMessageRequest {
            body: text.parse().expect("body"),
        });
    if let Some(tag) = if_match {
        request = request.if_match(tag);
    }
    request.send().await
}

contract_test!(update_message, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    let secret = channel(&alice, "secret", private()).await;
    let bobs = post(&bob, general.id, "teh release").await;
    let hidden = post(&alice, secret.id, "hidden").await;

    // The author edits: new body, edited_at, a new ETag, same id and time.
    let edited = edit(&bob.client, general.id, bobs.id, None, "the release")
        .await
        .expect("author edits");
    assert_eq!(edited.status().as_u16(), 200);
    let tag = etag(edited.headers());
    let edited = edited.into_inner();
    assert_eq!(
        (edited.id, edited.body.as_str(), edited.created_at),
        (bobs.id, "the release", bobs.created_at)
    );
    let edited_at = edited.edited_at.expect("edited_at is set");
    assert!(edited_at >= bobs.created_at);
    let listed = messages_page(&alice.client, general.id).await;
    assert_eq!(
        listed.items,
        std::slice::from_ref(&edited),
        "an edit is not a new message"
    );

    // Conditional: the current tag passes, a stale one is 412 and changes nothing.
    let again = edit(
        &bob.client,
        general.id,
        bobs.id,
        Some(&tag),
        "the release, v2",
    )
    .await
    .expect("current If-Match");
    let newer = etag(again.headers());
    fail(
        edit(&bob.client, general.id, bobs.id, Some(&tag), "lost update").await,
        412,
        "PRECONDITION_FAILED",
    );
    let stored = bob
        .client
        .get_message()
        .channel_id(general.id)
        .message_id(bobs.id)
        .send()
        .await
        .expect("get");
    assert_eq!(etag(stored.headers()), newer);
    assert_eq!(stored.body.as_str(), "the release, v2");

    // Not the author (the channel's owner included): 403, nothing changes.
    fail(
        edit(&alice.client, general.id, bobs.id, None, "owner's words").await,
        403,
        "FORBIDDEN",
    );
    // Unknown, or in a private channel the caller cannot see: 404.
    fail(
        edit(&bob.client, general.id, Uuid::new_v4(), None, "x").await,
        404,
        "NOT_FOUND",
    );
    fail(
        edit(&bob.client, secret.id, hidden.id, None, "x").await,
        404,
        "NOT_FOUND",
    );
    // A body the schema refuses: every violation, with its pointer.
    let raw = server
        .raw()
        .patch(server.url(&format!(
            "/api/v2/channels/{}/messages/{}",
            general.id, bobs.id
        )))
        .bearer_auth(&bob.access_token)
        .json(&json!({"body": "", "extra": 1}))
        .send()
        .await
        .expect("send");
    let problem = raw_problem(raw, 422, "VALIDATION_FAILED").await;
    assert_eq!(raw_pointers(&problem, "body"), set(&["#/body", "#/extra"]));

    // A read key may not edit; a write key of the author may.
    let reader = new_key(&bob, "reader", &[types::ApiKeyScope::Read]).await;
    fail(
        edit(&with_key(&server, &reader), general.id, bobs.id, None, "x").await,
        403,
        "INSUFFICIENT_SCOPE",
    );
    let writer = new_key(&bob, "writer", &[types::ApiKeyScope::Write]).await;
    let by_key = edit(
        &with_key(&server, &writer),
        general.id,
        bobs.id,
        None,
        "by key",
    )
    .await
    .expect("write key");
    assert_eq!(by_key.body.as_str(), "by key");
});
