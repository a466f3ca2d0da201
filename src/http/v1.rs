//! `v1::Api`: the legacy contract, a view of the same rows with integer ids.

use crate::api::v1::*;
use crate::app::App;
use crate::auth::Principal;
use crate::users::{self, UserRow};
use charter_runtime::{Problem, RequestContext};

fn user(row: &UserRow) -> User {
    User {
        id: row.seq,
        name: row.full_name.clone(),
    }
}

impl Api for App {
    async fn login(
        &self,
        _ctx: &RequestContext,
        body: LoginRequest,
    ) -> Result<LoginResponse, Problem> {
        let row =
            users::authenticate_password(&self.store, &self.passwords, &body.email, &body.password)
                .await?;
        // v1 has no refresh tokens, but its access tokens belong to a session
        // like v2's, so logout-everywhere (password change) ends them too.
        // The session's refresh token is not handed out.
        let session = users::start_session(&self.store, &self.tokens, row.id).await?;
        Ok(LoginResponse::Ok {
            body: Token {
                access_token: session.access_token,
                token_type: TokenTokenType::Bearer,
                expires_in: self.tokens.access_ttl_seconds(),
            },
        })
    }

    async fn get_me(
        &self,
        _ctx: &RequestContext,
        auth: Principal,
    ) -> Result<GetMeResponse, Problem> {
        let row = users::get_recent(&self.store, &self.principals, auth.user_id).await?;
        Ok(GetMeResponse::Ok {
            body: Me {
                id: row.seq,
                name: row.full_name,
                email: row.email,
            },
        })
    }

    async fn list_users(
        &self,
        _ctx: &RequestContext,
        _auth: Principal,
        query: ListUsersQuery,
    ) -> Result<ListUsersResponse, Problem> {
        let rows = users::list_offset(&self.store, i64::from(query.offset), i64::from(query.limit))
            .await?;
        Ok(ListUsersResponse::Ok {
            body: UserList {
                users: rows.iter().map(user).collect(),
                limit: query.limit,
                offset: query.offset,
            },
        })
    }

    async fn create_user(
        &self,
        _ctx: &RequestContext,
        body: NewUser,
    ) -> Result<CreateUserResponse, Problem> {
        let row = users::register(
            &self.store,
            &self.passwords,
            &body.email,
            &body.name,
            &body.password,
        )
        .await?;
        Ok(CreateUserResponse::Created {
            location: format!("/api/v1/users/{}", row.seq),
            body: user(&row),
        })
    }

    async fn get_user(
        &self,
        _ctx: &RequestContext,
        _auth: Principal,
        path: GetUserPath,
    ) -> Result<GetUserResponse, Problem> {
        let row = users::find_by_seq(&self.store, path.id)
            .await?
            .ok_or_else(|| Problem::not_found("No user has this id."))?;
        Ok(GetUserResponse::Ok { body: user(&row) })
    }
}
