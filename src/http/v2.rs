//! `v2::Api`: the current contract. Handlers translate between the generated
//! models and the domain modules; the rules live in the domain.

use uuid::Uuid;

use super::models::{api_key, channel, me, member, message, user};
use super::{changed_meanwhile, check_if_match, etag, none_match_hits};
use crate::api::v2::*;
use crate::app::App;
use crate::auth::Principal;
use crate::channels::{self, ChannelChanges};
use crate::messages;
use crate::{api_keys, users};
use charter_runtime::{Problem, RequestContext, WebSocketUpgrade};

const ME: &str = "me";
const USER: &str = "user";
const CHANNEL: &str = "channel";
const MESSAGE: &str = "message";

fn token_pair(app: &App, session: users::Session) -> TokenPair {
    TokenPair {
        access_token: session.access_token,
        token_type: TokenPairTokenType::Bearer,
        expires_in: app.tokens.access_ttl_seconds(),
        refresh_token: session.refresh_token,
    }
}

/// The listing a cursor belongs to: the kind, the scope and the caller.
fn listing(kind: &str, scope: Option<Uuid>, viewer: Uuid) -> String {
    match scope {
        Some(scope) => format!("{kind}:{scope}:{viewer}"),
        None => format!("{kind}:{viewer}"),
    }
}

fn limit(value: i32) -> usize {
    usize::try_from(value).unwrap_or(1).clamp(1, 100)
}

impl Api for App {
    async fn register(
        &self,
        _ctx: &RequestContext,
        body: RegisterRequest,
    ) -> Result<RegisterResponse, Problem> {
        let row = users::register(
            &self.store,
            &self.passwords,
            &body.email,
            &body.full_name,
            &body.password,
        )
        .await?;
        Ok(RegisterResponse::Created {
            location: format!("/api/v2/users/{}", row.id),
            body: me(&row),
        })
    }

    async fn login(
        &self,
        _ctx: &RequestContext,
        body: LoginRequest,
    ) -> Result<LoginResponse, Problem> {
        let row =
            users::authenticate_password(&self.store, &self.passwords, &body.email, &body.password)
                .await?;
        let session = users::start_session(&self.store, &self.tokens, row.id).await?;
        Ok(LoginResponse::Ok {
            body: token_pair(self, session),
        })
    }

    async fn refresh_token(
        &self,
        _ctx: &RequestContext,
        body: RefreshRequest,
    ) -> Result<RefreshTokenResponse, Problem> {
        let session = users::refresh(
            &self.store,
            &self.tokens,
            &self.principals,
            &body.refresh_token,
        )
        .await?;
        Ok(RefreshTokenResponse::Ok {
            body: token_pair(self, session),
        })
    }

    async fn logout(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        body: LogoutRequest,
    ) -> Result<LogoutResponse, Problem> {
        users::logout(
            &self.store,
            &self.principals,
            auth.user_id,
            &body.refresh_token,
        )
        .await?;
        Ok(LogoutResponse::NoContent)
    }

    async fn get_me(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
    ) -> Result<GetMeResponse, Problem> {
        let row = users::get_recent(&self.store, &self.principals, auth.user_id).await?;
        Ok(GetMeResponse::Ok {
            etag: etag(ME, row.id, row.version),
            body: me(&row),
        })
    }

    async fn update_me(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        headers: UpdateMeHeaders,
        body: UpdateMeRequest,
    ) -> Result<UpdateMeResponse, Problem> {
        let current = users::get(&self.store, auth.user_id).await?;
        let expected = check_if_match(
            headers.if_match.as_deref(),
            &etag(ME, current.id, current.version),
            current.version,
        )?;
        let row = users::update_full_name(
            &self.store,
            &self.principals,
            current.id,
            expected,
            body.full_name.as_deref(),
        )
        .await?
        .ok_or_else(changed_meanwhile)?;
        Ok(UpdateMeResponse::Ok {
            etag: etag(ME, row.id, row.version),
            body: me(&row),
        })
    }

    async fn change_password(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        body: ChangePasswordRequest,
    ) -> Result<ChangePasswordResponse, Problem> {
        users::change_password(
            &self.store,
            &self.passwords,
            &self.principals,
            auth.user_id,
            &body.current_password,
            &body.new_password,
        )
        .await?;
        Ok(ChangePasswordResponse::NoContent)
    }

    async fn list_users(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        query: ListUsersQuery,
    ) -> Result<ListUsersResponse, Problem> {
        let listing = listing("users", None, auth.user_id);
        let after = match &query.cursor {
            Some(cursor) => self.cursors.decode(&listing, cursor)?,
            None => 0,
        };
        let (rows, more) = users::list_after(&self.store, after, limit(query.limit)).await?;
        let next_cursor = more
            .then(|| rows.last().map(|r| self.cursors.encode(&listing, r.seq)))
            .flatten();
        Ok(ListUsersResponse::Ok {
            body: UserPage {
                items: rows.iter().map(user).collect(),
                next_cursor,
            },
        })
    }

    async fn get_user(
        &self,
        _ctx: &RequestContext,
        _auth: Principal,
        path: GetUserPath,
        headers: GetUserHeaders,
    ) -> Result<GetUserResponse, Problem> {
        let row = users::get_recent(&self.store, &self.principals, path.user_id).await?;
        let tag = etag(USER, row.id, row.version);
        if none_match_hits(headers.if_none_match.as_deref(), &tag) {
            return Ok(GetUserResponse::NotModified { etag: tag });
        }
        Ok(GetUserResponse::Ok {
            etag: tag,
            body: user(&row),
        })
    }

    async fn delete_user(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: DeleteUserPath,
    ) -> Result<DeleteUserResponse, Problem> {
        users::delete_as(&self.store, &self.principals, &auth, path.user_id).await?;
        Ok(DeleteUserResponse::NoContent)
    }

    async fn create_api_key(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        body: CreateApiKeyRequest,
    ) -> Result<CreateApiKeyResponse, Problem> {
        let scopes: Vec<&str> = body.scopes.iter().map(ApiKeyScope::as_str).collect();
        let (row, secret) =
            api_keys::create(&self.store, auth.user_id, &body.name, &scopes).await?;
        let view = api_key(&row)?;
        Ok(CreateApiKeyResponse::Created {
            location: format!("/api/v2/api-keys/{}", row.id),
            body: ApiKeyCreated {
                id: view.id,
                name: view.name,
                scopes: view.scopes,
                prefix: view.prefix,
                created_at: view.created_at,
                last_used_at: view.last_used_at,
                key: secret,
            },
        })
    }

    async fn list_api_keys(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
    ) -> Result<ListApiKeysResponse, Problem> {
        let rows = api_keys::list(&self.store, auth.user_id).await?;
        Ok(ListApiKeysResponse::Ok {
            body: ApiKeyList {
                items: rows.iter().map(api_key).collect::<Result<_, _>>()?,
            },
        })
    }

    async fn revoke_api_key(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: RevokeApiKeyPath,
    ) -> Result<RevokeApiKeyResponse, Problem> {
        api_keys::revoke(&self.store, &self.principals, auth.user_id, path.key_id).await?;
        Ok(RevokeApiKeyResponse::NoContent)
    }

    async fn create_channel(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        body: CreateChannelRequest,
    ) -> Result<CreateChannelResponse, Problem> {
        let row = channels::create(
            &self.store,
            auth.user_id,
            &body.name,
            body.topic.as_deref(),
            body.visibility.as_str(),
        )
        .await?;
        Ok(CreateChannelResponse::Created {
            location: format!("/api/v2/channels/{}", row.id),
            etag: etag(CHANNEL, row.id, row.version),
            body: channel(&row)?,
        })
    }

    async fn list_channels(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        query: ListChannelsQuery,
    ) -> Result<ListChannelsResponse, Problem> {
        let listing = listing("channels", None, auth.user_id);
        let after = match &query.cursor {
            Some(cursor) => self.cursors.decode(&listing, cursor)?,
            None => 0,
        };
        let (rows, more) =
            channels::list_visible(&self.store, auth.user_id, after, limit(query.limit)).await?;
        let next_cursor = more
            .then(|| rows.last().map(|r| self.cursors.encode(&listing, r.seq)))
            .flatten();
        Ok(ListChannelsResponse::Ok {
            body: ChannelPage {
                items: rows.iter().map(channel).collect::<Result<_, _>>()?,
                next_cursor,
            },
        })
    }

    async fn get_channel(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: GetChannelPath,
        headers: GetChannelHeaders,
    ) -> Result<GetChannelResponse, Problem> {
        let row = channels::visible(&self.store, auth.user_id, path.channel_id).await?;
        let tag = etag(CHANNEL, row.id, row.version);
        if none_match_hits(headers.if_none_match.as_deref(), &tag) {
            return Ok(GetChannelResponse::NotModified { etag: tag });
        }
        Ok(GetChannelResponse::Ok {
            etag: tag,
            body: channel(&row)?,
        })
    }

    async fn update_channel(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: UpdateChannelPath,
        headers: UpdateChannelHeaders,
        body: UpdateChannelRequest,
    ) -> Result<UpdateChannelResponse, Problem> {
        let current = channels::owned(&self.store, auth.user_id, path.channel_id).await?;
        let expected = check_if_match(
            headers.if_match.as_deref(),
            &etag(CHANNEL, current.id, current.version),
            current.version,
        )?;
        let changes = ChannelChanges {
            name: body.name.as_deref(),
            topic: body.topic.as_ref().map(|t| t.as_deref()),
        };
        let row = channels::update(&self.store, current.id, expected, changes)
            .await?
            .ok_or_else(changed_meanwhile)?;
        Ok(UpdateChannelResponse::Ok {
            etag: etag(CHANNEL, row.id, row.version),
            body: channel(&row)?,
        })
    }

    async fn delete_channel(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: DeleteChannelPath,
        headers: DeleteChannelHeaders,
    ) -> Result<DeleteChannelResponse, Problem> {
        let current = channels::owned(&self.store, auth.user_id, path.channel_id).await?;
        let expected = check_if_match(
            headers.if_match.as_deref(),
            &etag(CHANNEL, current.id, current.version),
            current.version,
        )?;
        if !channels::delete(&self.store, current.id, expected).await? {
            return Err(changed_meanwhile());
        }
        Ok(DeleteChannelResponse::NoContent)
    }

    async fn add_channel_member(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: AddChannelMemberPath,
    ) -> Result<AddChannelMemberResponse, Problem> {
        let (row, added) =
            channels::add_member_as(&self.store, auth.user_id, path.channel_id, path.user_id)
                .await?;
        let body = member(&row)?;
        Ok(if added {
            AddChannelMemberResponse::Created { body }
        } else {
            AddChannelMemberResponse::Ok { body }
        })
    }

    async fn remove_channel_member(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: RemoveChannelMemberPath,
    ) -> Result<RemoveChannelMemberResponse, Problem> {
        channels::remove_member_as(&self.store, auth.user_id, path.channel_id, path.user_id)
            .await?;
        Ok(RemoveChannelMemberResponse::NoContent)
    }

    async fn create_message(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: CreateMessagePath,
        headers: CreateMessageHeaders,
        body: CreateMessageRequest,
    ) -> Result<CreateMessageResponse, Problem> {
        let row = messages::post(
            &self.store,
            &self.posts,
            auth.user_id,
            path.channel_id,
            &body.body,
            headers.idempotency_key.as_deref(),
        )
        .await?;
        Ok(CreateMessageResponse::Created {
            location: format!("/api/v2/channels/{}/messages/{}", row.channel_id, row.id),
            body: message(&row),
        })
    }

    async fn list_messages(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: ListMessagesPath,
        query: ListMessagesQuery,
    ) -> Result<ListMessagesResponse, Problem> {
        let listing = listing("messages", Some(path.channel_id), auth.user_id);
        let before = match &query.cursor {
            Some(cursor) => self.cursors.decode(&listing, cursor)?,
            None => i64::MAX,
        };
        let (rows, more) = messages::list_visible_before(
            &self.store,
            auth.user_id,
            path.channel_id,
            before,
            limit(query.limit),
        )
        .await?;
        let next_cursor = more
            .then(|| rows.last().map(|r| self.cursors.encode(&listing, r.seq)))
            .flatten();
        Ok(ListMessagesResponse::Ok {
            body: MessagePage {
                items: rows.iter().map(message).collect(),
                next_cursor,
            },
        })
    }

    async fn delete_message(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: DeleteMessagePath,
    ) -> Result<DeleteMessageResponse, Problem> {
        messages::delete_as(&self.store, &auth, path.channel_id, path.message_id).await?;
        Ok(DeleteMessageResponse::NoContent)
    }

    async fn get_message(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: GetMessagePath,
        headers: GetMessageHeaders,
    ) -> Result<GetMessageResponse, Problem> {
        let row =
            messages::find_visible(&self.store, auth.user_id, path.channel_id, path.message_id)
                .await?;
        let tag = etag(MESSAGE, row.id, row.version);
        if none_match_hits(headers.if_none_match.as_deref(), &tag) {
            return Ok(GetMessageResponse::NotModified { etag: tag });
        }
        Ok(GetMessageResponse::Ok {
            etag: tag,
            body: message(&row),
        })
    }

    async fn update_message(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: UpdateMessagePath,
        headers: UpdateMessageHeaders,
        body: UpdateMessageRequest,
    ) -> Result<UpdateMessageResponse, Problem> {
        let current =
            messages::find_visible(&self.store, auth.user_id, path.channel_id, path.message_id)
                .await?;
        let expected = check_if_match(
            headers.if_match.as_deref(),
            &etag(MESSAGE, current.id, current.version),
            current.version,
        )?;
        let row = messages::edit_as(&self.store, &auth, &current, expected, &body.body)
            .await?
            .ok_or_else(changed_meanwhile)?;
        Ok(UpdateMessageResponse::Ok {
            etag: etag(MESSAGE, row.id, row.version),
            body: message(&row),
        })
    }

    async fn stream_channel_events(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
        path: StreamChannelEventsPath,
        query: StreamChannelEventsQuery,
        headers: StreamChannelEventsHeaders,
    ) -> Result<StreamChannelEventsResponse, Problem> {
        let body = super::live::channel_stream(
            self,
            auth.user_id,
            path.channel_id,
            headers.last_event_id,
            query.edits,
        )
        .await?;
        Ok(StreamChannelEventsResponse::Ok { body })
    }

    async fn connect_web_socket(
        &self,
        ctx: &RequestContext,
        auth: Option<Principal>,
        // The offered subprotocols are read from the handshake itself.
        _headers: ConnectWebSocketHeaders,
        upgrade: WebSocketUpgrade,
    ) -> Result<ConnectWebSocketResponse, Problem> {
        let body = super::live::accept(self, ctx.request_id(), upgrade, auth).await?;
        Ok(ConnectWebSocketResponse::SwitchingProtocols { body })
    }
}
