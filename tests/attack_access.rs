//! Object-level authorization attacks: user B (by token and by API key)
//! against every object route of user A's objects, over HTTP. Each attack is
//! refused, and A's objects are unchanged afterwards.

mod common;

use charter_client::Credentials;
use common::{TestServer, TestUser, problem, types};
use uuid::Uuid;

struct Victim {
    user: TestUser,
    private: types::Channel,
    public: types::Channel,
    private_message: types::Message,
    public_message: types::Message,
    key_id: Uuid,
}

async fn victim(server: &TestServer) -> Victim {
    let user = server.user("Alice").await;
    let create = |name: &str, visibility| types::CreateChannelRequest {
        name: name.parse().expect("name"),
        topic: Some("secret plans".parse().expect("topic")),
        visibility: Some(visibility),
    };
    let private = user
        .client
        .create_channel()
        .body(create("alice-private", types::ChannelVisibility::Private))
        .send()
        .await
        .expect("private channel")
        .into_inner();
    let public = user
        .client
        .create_channel()
        .body(create("alice-public", types::ChannelVisibility::Public))
        .send()
        .await
        .expect("public channel")
        .into_inner();
    let post = |channel: Uuid| {
        user.client
            .create_message()
            .channel_id(channel)
            .body(types::CreateMessageRequest {
                body: "for members only".parse().expect("body"),
            })
            .send()
    };
    let private_message = post(private.id).await.expect("post").into_inner();
    let public_message = post(public.id).await.expect("post").into_inner();
    let key_id = user
        .client
        .create_api_key()
        .body(types::CreateApiKeyRequest {
            name: "alice's key".parse().expect("name"),
            scopes: vec![types::ApiKeyScope::Read, types::ApiKeyScope::Write],
        })
        .send()
        .await
        .expect("key")
        .into_inner()
        .id;
    Victim {
        user,
        private,
        public,
        private_message,
        public_message,
        key_id,
    }
}

/// Bob's two ways in: his access token and a read/write API key of his own.
async fn attackers(server: &TestServer) -> Vec<(&'static str, charter_client::v2::Client)> {
    let bob = server.user("Bob").await;
    let key = bob
        .client
        .create_api_key()
        .body(types::CreateApiKeyRequest {
            name: "bob's key".parse().expect("name"),
            scopes: vec![types::ApiKeyScope::Read, types::ApiKeyScope::Write],
        })
        .send()
        .await
        .expect("key")
        .into_inner()
        .key
        .to_string();
    vec![
        ("token", bob.client),
        ("api key", server.with(Credentials::ApiKey(key))),
    ]
}

/// Everything about A's objects that an attack could have changed.
async fn snapshot(victim: &Victim) -> String {
    let client = &victim.user.client;
    let private = client
        .get_channel()
        .channel_id(victim.private.id)
        .send()
        .await;
    let public = client
        .get_channel()
        .channel_id(victim.public.id)
        .send()
        .await;
    let private_messages = client
        .list_messages()
        .channel_id(victim.private.id)
        .send()
        .await;
    let public_messages = client
        .list_messages()
        .channel_id(victim.public.id)
        .send()
        .await;
    let keys = client.list_api_keys().send().await;
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        private.expect("private").into_inner(),
        public.expect("public").into_inner(),
        private_messages.expect("messages").into_inner().items,
        public_messages.expect("messages").into_inner().items,
        keys.expect("keys")
            .into_inner()
            .items
            .iter()
            .map(|k| k.id)
            .collect::<Vec<_>>(),
    )
}

fn rename() -> types::UpdateChannelRequest {
    types::UpdateChannelRequest {
        name: Some("pwned".parse().expect("name")),
        topic: None,
    }
}

contract_test!(bola_on_every_object_route, |server| {
    let alice = victim(&server).await;
    let before = snapshot(&alice).await;
    let private = alice.private.id;
    let public = alice.public.id;
    for (how, bob) in attackers(&server).await {
        // A private channel does not exist for a non-member: 404 everywhere.
        problem(
            bob.get_channel().channel_id(private).send().await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.update_channel()
                .channel_id(private)
                .body(rename())
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.delete_channel().channel_id(private).send().await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.list_messages().channel_id(private).send().await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.create_message()
                .channel_id(private)
                .body(types::CreateMessageRequest {
                    body: "let me in".parse().expect("body"),
                })
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.delete_message()
                .channel_id(private)
                .message_id(alice.private_message.id)
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        // Adding oneself to a private channel is the classic escalation.
        let me = bob.get_me().send().await;
        let bob_id = match how {
            "token" => me.expect("me").id,
            _ => {
                // /me takes bearer tokens only; find Bob's id from the listing.
                bob.list_users()
                    .send()
                    .await
                    .expect("users")
                    .into_inner()
                    .items
                    .iter()
                    .find(|u| u.full_name.as_str() == "Bob")
                    .expect("bob")
                    .id
            }
        };
        problem(
            bob.add_channel_member()
                .channel_id(private)
                .user_id(bob_id)
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        problem(
            bob.remove_channel_member()
                .channel_id(private)
                .user_id(alice.user.id)
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        // A public channel is visible, but only its owner changes it.
        problem(
            bob.update_channel()
                .channel_id(public)
                .body(rename())
                .send()
                .await,
            403,
            "FORBIDDEN",
        );
        problem(
            bob.delete_channel().channel_id(public).send().await,
            403,
            "FORBIDDEN",
        );
        problem(
            bob.add_channel_member()
                .channel_id(public)
                .user_id(bob_id)
                .send()
                .await,
            403,
            "FORBIDDEN",
        );
        problem(
            bob.remove_channel_member()
                .channel_id(public)
                .user_id(alice.user.id)
                .send()
                .await,
            403,
            "FORBIDDEN",
        );
        problem(
            bob.delete_message()
                .channel_id(public)
                .message_id(alice.public_message.id)
                .send()
                .await,
            403,
            "FORBIDDEN",
        );
        // A message id from another channel is not found through this one.
        problem(
            bob.delete_message()
                .channel_id(public)
                .message_id(alice.private_message.id)
                .send()
                .await,
            404,
            "NOT_FOUND",
        );
        // Another user's API key cannot be revoked (or confirmed to exist).
        if how == "token" {
            problem(
                bob.revoke_api_key().key_id(alice.key_id).send().await,
                404,
                "NOT_FOUND",
            );
        }
        // Listings leak nothing private.
        let channels = bob
            .list_channels()
            .send()
            .await
            .expect("channels")
            .into_inner();
        assert!(
            channels.items.iter().all(|c| c.id != private),
            "{how}: private channel listed"
        );
        assert!(channels.items.iter().any(|c| c.id == public));
    }
    assert_eq!(
        snapshot(&alice).await,
        before,
        "an attack changed Alice's objects"
    );
});

contract_test!(private_channel_opens_only_to_members, |server| {
    let alice = victim(&server).await;
    let bob = server.user("Bob").await;
    problem(
        bob.client
            .get_channel()
            .channel_id(alice.private.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
    alice
        .user
        .client
        .add_channel_member()
        .channel_id(alice.private.id)
        .user_id(bob.id)
        .send()
        .await
        .expect("add bob");
    let seen = bob
        .client
        .list_messages()
        .channel_id(alice.private.id)
        .send()
        .await
        .expect("member reads")
        .into_inner();
    assert_eq!(seen.items.len(), 1);
    // A member still cannot manage the channel or others' messages.
    problem(
        bob.client
            .update_channel()
            .channel_id(alice.private.id)
            .body(rename())
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    problem(
        bob.client
            .delete_message()
            .channel_id(alice.private.id)
            .message_id(alice.private_message.id)
            .send()
            .await,
        403,
        "FORBIDDEN",
    );
    // Leaving closes it again.
    bob.client
        .remove_channel_member()
        .channel_id(alice.private.id)
        .user_id(bob.id)
        .send()
        .await
        .expect("leave");
    problem(
        bob.client
            .list_messages()
            .channel_id(alice.private.id)
            .send()
            .await,
        404,
        "NOT_FOUND",
    );
});

contract_test!(server_assigned_fields_cannot_be_set, |server| {
    let alice = server.user("Alice").await;
    let forged_owner = Uuid::new_v4();
    for body in [
        serde_json::json!({"name": "forged", "owner_id": forged_owner}),
        serde_json::json!({"name": "forged", "id": forged_owner}),
        serde_json::json!({"name": "forged", "created_at": "2000-01-01T00:00:00Z"}),
    ] {
        let response = server
            .raw()
            .post(server.url("/api/v2/channels"))
            .bearer_auth(&alice.access_token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 422, "{body}");
    }
    let channels = alice
        .client
        .list_channels()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(channels.items.is_empty(), "nothing was created");
    let response = server
        .raw()
        .post(server.url("/api/v2/channels/00000000-0000-0000-0000-000000000000/messages"))
        .bearer_auth(&alice.access_token)
        .json(&serde_json::json!({"body": "hi", "author_id": forged_owner}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 422);
});
