//! Channel membership.

use super::*;

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
