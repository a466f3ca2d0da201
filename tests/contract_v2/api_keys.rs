//! API keys: creating, listing and revoking them, and what their scopes allow.

use super::*;

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
    with_key(&server, &kept)
        .list_users()
        .send()
        .await
        .expect("still works");
});

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
    let messages = messages_page(&alice.client, general.id).await;
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
