//! The application state shared by every request, and how it is built from
//! configuration.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::{Passwords, Tokens};
use crate::db::{DEFAULT_SQLITE_PATH, Db};
use crate::events::Hub;
use crate::pagination::Cursors;
use crate::ratelimit::RateLimits;

/// The server's settings, from the command line and environment ([`crate::cli`]).
#[derive(Clone)]
pub struct Config {
    /// `postgres://…` or `sqlite:…`; the embedded SQLite file when unset.
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    /// The operator listener (/metrics, /healthz, /readyz); none when unset.
    pub admin_listen: Option<SocketAddr>,
    /// Token signing secret (at least 32 bytes). Unset: a random one per
    /// process, allowed only with the embedded database.
    pub token_secret: Option<String>,
    /// Earlier signing secrets (each at least 32 bytes): tokens they signed
    /// are still accepted, nothing new is signed with them. Lets the secret
    /// rotate without ending every session at once.
    pub token_previous_secrets: Vec<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Request limits per client address, principal and class.
    pub rate_limits: crate::ratelimit::Settings,
    /// Origins allowed to call the API from a browser; none by default.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// How long requests and live sessions may take to finish after a
    /// shutdown signal.
    pub drain_timeout: Duration,
    /// Live events per channel a subscriber may fall behind before it is
    /// told it lagged (and must resume from the database).
    pub event_buffer: usize,
    /// Keep-alive, ping, timeout and size settings of SSE and WebSocket sessions.
    pub live: crate::live::Settings,
    /// Lock and statement timeouts, and SQLite's commit durability.
    pub database: crate::db::Settings,
    /// Bounds on client connections: how many, how long a request head may
    /// take, how large it may be.
    pub connections: crate::http::listener::Settings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database", &self.database_url.as_deref().map(redact_url))
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("token_secret", &self.token_secret.as_ref().map(|_| "<set>"))
            .field(
                "token_previous_secrets",
                &format_args!("<{} set>", self.token_previous_secrets.len()),
            )
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("rate_limits", &self.rate_limits)
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("event_buffer", &self.event_buffer)
            .field("live", &self.live)
            .field("database", &self.database)
            .field("connections", &self.connections)
            .finish()
    }
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// `database_url`, or the embedded SQLite file when it is unset.
    pub fn database_url_or_default(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{DEFAULT_SQLITE_PATH}"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            token_secret: None,
            token_previous_secrets: Vec::new(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            rate_limits: crate::ratelimit::Settings::default(),
            cors_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            event_buffer: crate::events::DEFAULT_BUFFER,
            live: crate::live::Settings::default(),
            database: crate::db::Settings::default(),
            connections: crate::http::listener::Settings::default(),
        }
    }
}

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub tokens: Tokens,
    pub passwords: Passwords,
    pub cursors: Cursors,
    pub limits: RateLimits,
    /// Live channel events of this process (and, with PostgreSQL, of every
    /// instance on the same database).
    pub events: Hub,
    pub config: Config,
    /// Cancelled when the server starts shutting down: live sessions close
    /// (WebSocket 1001) and event streams end.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Open SSE streams and WebSocket sessions.
    pub live: crate::live::Counters,
    /// Whether the database answers and whether the server is draining.
    pub health: crate::health::Health,
    pub metrics: crate::metrics::Metrics,
    /// Principals and profiles read from the database a moment ago.
    pub principals: crate::principal_cache::PrincipalCache<
        crate::api_keys::ApiKeyPrincipal,
        crate::users::UserRow,
    >,
    /// Writers of one channel take turns here before taking a connection.
    pub write_gates: crate::write_gate::WriteGates,
    /// Messages posted to one channel meanwhile are committed together.
    pub posts: crate::group_commit::GroupCommit<
        crate::messages::NewPost,
        Result<crate::messages::MessageRow, crate::runtime::Problem>,
    >,
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Connects to the database, runs migrations and prepares the keys.
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let secret = match &config.token_secret {
            Some(secret) => secret.clone().into_bytes(),
            None if config.database_url.is_none() => {
                tracing::warn!(
                    "CHARTER_TOKEN_SECRET is not set: using a random signing secret; \
                     tokens will not survive a restart. Set it for any real deployment."
                );
                crate::auth::random_secret(32).into_bytes()
            }
            None => anyhow::bail!(
                "CHARTER_TOKEN_SECRET must be set (at least 32 bytes) when DATABASE_URL is set"
            ),
        };
        App::assemble(config, secret).await
    }

    /// The application for an administrative command, which issues no
    /// tokens: a signing secret is not required, and without one a random
    /// secret is used silently.
    pub async fn build_for_command(config: &Config) -> anyhow::Result<App> {
        let secret = match &config.token_secret {
            Some(secret) => secret.clone().into_bytes(),
            None => crate::auth::random_secret(32).into_bytes(),
        };
        App::assemble(config, secret).await
    }

    async fn assemble(config: &Config, secret: Vec<u8>) -> anyhow::Result<App> {
        let previous: Vec<&[u8]> = config
            .token_previous_secrets
            .iter()
            .map(|s| s.as_bytes())
            .collect();
        let tokens = Tokens::new(
            &secret,
            &previous,
            config.access_token_ttl,
            config.refresh_token_ttl,
        )?;
        let db = Db::connect(&config.database_url_or_default(), &config.database).await?;
        let events = Hub::new(db.clone(), config.event_buffer);
        // One core stays free of hashing for the request workers (the
        // hashing threads are pinned to the others): a login flood then
        // costs other requests little.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = workers.saturating_sub(1).max(1);
        let passwords = Passwords::new(workers)?;
        let app = App(Arc::new(Inner {
            db,
            tokens,
            passwords,
            cursors: Cursors::new(derive_key(&secret, b"charter cursor key")),
            limits: RateLimits::new(&config.rate_limits),
            events,
            config: config.clone(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            live: crate::live::Counters::default(),
            health: crate::health::Health::default(),
            metrics: crate::metrics::Metrics::new()?,
            principals: crate::principal_cache::PrincipalCache::default(),
            posts: crate::group_commit::GroupCommit::new(crate::messages::MAX_POSTS_PER_COMMIT),
            write_gates: crate::write_gate::WriteGates::new(config.database.lock_timeout),
        }));
        app.forget_idle_clients_periodically();
        crate::health::watch(Arc::downgrade(&app.0));
        Ok(app)
    }

    /// Every minute, drops rate-limit state of clients that have been idle;
    /// stops when the app is gone.
    fn forget_idle_clients_periodically(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(inner) => inner.limits.forget_idle(),
                    None => break,
                }
            }
        });
    }
}

/// A purpose-specific key derived from the main secret.
fn derive_key(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db:5432/charter"),
            "postgres://app:***@db:5432/charter"
        );
        assert_eq!(super::redact_url("sqlite:data/x.db"), "sqlite:data/x.db");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = super::Config {
            token_secret: Some("current-secret-current-secret-current".to_owned()),
            token_previous_secrets: vec!["previous-secret-previous-secret-prev".to_owned()],
            ..super::Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("current-secret"), "{shown}");
        assert!(!shown.contains("previous-secret"), "{shown}");
        assert!(shown.contains("<1 set>"), "{shown}");
    }
}
