//! A token session: the access token of a login, renewed with its refresh
//! token before it expires and after a 401, one renewal at a time however
//! many tasks share the session.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::generated::v2::{self, types};
use crate::policy::{Pending, Policy, SessionError, TokenSource};
use crate::timeouts::Timeouts;

/// A login's tokens, shared by every clone and every client built with it.
#[derive(Clone)]
pub struct TokenSession {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TokenSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSession(..)")
    }
}

struct Shared {
    base_url: String,
    http: reqwest::Client,
    // A renewal runs with the lock held: a task that finds the token
    // expiring waits for the renewal under way instead of starting its own,
    // because two refreshes with one refresh token count as reuse and end
    // the session.
    state: Mutex<State>,
}

struct State {
    access_token: String,
    refresh_token: String,
    /// When to renew: some way before the token expires.
    renew_at: Instant,
    revoked: bool,
    renewals: u64,
}

/// Renew this long before expiry: a tenth of the lifetime, 1 s to 60 s.
fn renew_at(expires_in: std::num::NonZeroU32) -> Instant {
    let lifetime = Duration::from_secs(u64::from(expires_in.get()));
    let margin = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    Instant::now() + lifetime.saturating_sub(margin)
}

impl TokenSession {
    /// A session from the token pair of `login` or `refreshToken`, against
    /// the server at `base_url`.
    pub fn new(base_url: &str, tokens: types::TokenPair) -> Result<Self, reqwest::Error> {
        let http = Timeouts::default().http().build()?;
        Ok(TokenSession {
            shared: Arc::new(Shared {
                base_url: base_url.to_owned(),
                http,
                state: Mutex::new(State {
                    renew_at: renew_at(tokens.expires_in),
                    access_token: tokens.access_token,
                    refresh_token: tokens.refresh_token,
                    revoked: false,
                    renewals: 0,
                }),
            }),
        })
    }

    /// Logs in and starts a session.
    pub async fn login(
        base_url: &str,
        email: &str,
        password: &str,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let http = Timeouts::default().http().build()?;
        let tokens = v2::Client::new_with_client(base_url, http, Policy::default())
            .login()
            .body(types::LoginRequest {
                email: email.parse()?,
                password: password.parse()?,
            })
            .send()
            .await?
            .into_inner();
        Ok(TokenSession::new(base_url, tokens)?)
    }

    /// A current access token, renewed first when it is about to expire.
    pub async fn access_token(&self) -> Result<String, SessionError> {
        let mut state = self.shared.state.lock().await;
        if state.revoked {
            return Err(SessionError::Revoked);
        }
        if Instant::now() >= state.renew_at {
            self.renew(&mut state).await?;
        }
        Ok(state.access_token.clone())
    }

    /// After a 401 to a request sent with `rejected`: renews unless another
    /// task already has, and gives the token to send again.
    pub(crate) async fn renew_after(&self, rejected: &str) -> Result<String, SessionError> {
        let mut state = self.shared.state.lock().await;
        if state.revoked {
            return Err(SessionError::Revoked);
        }
        if state.access_token == rejected {
            self.renew(&mut state).await?;
        }
        Ok(state.access_token.clone())
    }

    /// The session's current refresh token, to keep it across restarts.
    pub async fn refresh_token(&self) -> String {
        self.shared.state.lock().await.refresh_token.clone()
    }

    /// How many times the access token has been renewed.
    pub async fn renewals(&self) -> u64 {
        self.shared.state.lock().await.renewals
    }

    /// Whether the server has ended the session.
    pub async fn is_revoked(&self) -> bool {
        self.shared.state.lock().await.revoked
    }

    async fn renew(&self, state: &mut State) -> Result<(), SessionError> {
        let refresh_token = state
            .refresh_token
            .parse::<types::RefreshRequestRefreshToken>()
            .map_err(|_| SessionError::Revoked);
        let answer = match refresh_token {
            Ok(refresh_token) => self.exchange(refresh_token).await,
            Err(revoked) => {
                state.revoked = true;
                return Err(revoked);
            }
        };
        match answer {
            Ok(tokens) => {
                state.renew_at = renew_at(tokens.expires_in);
                state.access_token = tokens.access_token;
                state.refresh_token = tokens.refresh_token;
                state.renewals += 1;
                Ok(())
            }
            Err(error) if error.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                state.revoked = true;
                Err(SessionError::Revoked)
            }
            Err(error) => Err(SessionError::Renewal(error.to_string())),
        }
    }

    /// `refreshToken`, through a client without a session. Boxed: the call
    /// runs inside a session client's request hooks, which it would
    /// otherwise contain.
    fn exchange(
        &self,
        refresh_token: types::RefreshRequestRefreshToken,
    ) -> Pin<
        Box<
            dyn Future<Output = Result<types::TokenPair, progenitor_client::Error<types::Problem>>>
                + Send
                + '_,
        >,
    > {
        let client = v2::Client::new_with_client(
            &self.shared.base_url,
            self.shared.http.clone(),
            Policy::default(),
        );
        Box::pin(async move {
            client
                .refresh_token()
                .body(types::RefreshRequest { refresh_token })
                .send()
                .await
                .map(progenitor_client::ResponseValue::into_inner)
        })
    }
}

impl TokenSource for TokenSession {
    fn access_token(&self) -> Pending<'_, Result<String, SessionError>> {
        Box::pin(TokenSession::access_token(self))
    }

    fn renew_after<'a>(&'a self, rejected: &'a str) -> Pending<'a, Result<String, SessionError>> {
        Box::pin(TokenSession::renew_after(self, rejected))
    }

    fn is_revoked(&self) -> Pending<'_, bool> {
        Box::pin(TokenSession::is_revoked(self))
    }
}
