//! The application state shared by every request, and how it is built from
//! configuration.

use anyhow::Context;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::api_keys::ApiKeyPrincipal;
use crate::auth::{Passwords, Tokens};
pub use crate::config::{Config, redact_url};
use crate::db::Db;
use crate::events::Hub;
use crate::messages::PostQueue;
use crate::pagination::Cursors;
use crate::principal_cache::PrincipalCache;
use crate::ratelimit::RateLimits;
use crate::store::Store;
use crate::users::UserRow;
use crate::write_gate::WriteGates;

/// Open live connections, for metrics and tests.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub sse: AtomicUsize,
    pub websocket: AtomicUsize,
}

impl LiveCounters {
    /// Open SSE streams and WebSocket sessions together.
    pub fn open(&self) -> usize {
        self.sse.load(Ordering::Relaxed) + self.websocket.load(Ordering::Relaxed)
    }

    pub fn counter(&self, websocket: bool) -> &AtomicUsize {
        if websocket {
            &self.websocket
        } else {
            &self.sse
        }
    }
}

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    /// The database, the event hub and the channels' write turns: what the
    /// domain modules are handed.
    pub store: Store,
    pub tokens: Tokens,
    pub passwords: Passwords,
    pub cursors: Cursors,
    pub limits: RateLimits,
    pub config: Config,
    /// Cancelled when the server starts shutting down: live sessions close
    /// (WebSocket 1001) and event streams end.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Open SSE streams and WebSocket sessions.
    pub live: LiveCounters,
    /// Whether the database answers and whether the server is draining.
    pub health: crate::health::Health,
    pub metrics: crate::metrics::Metrics,
    /// Principals and profiles read from the database a moment ago.
    pub principals: PrincipalCache<ApiKeyPrincipal, UserRow>,
    /// Messages posted to one channel meanwhile are committed together.
    pub posts: PostQueue,
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
        crate::error::install();
        let db = Db::connect(&config.database_url_or_default(), &config.database).await?;
        let events = Hub::new(db.clone(), config.event_buffer);
        // One core stays free of hashing for the request workers (the
        // hashing threads are pinned to the others): a login flood then
        // costs other requests little.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = workers.saturating_sub(1).max(1);
        let passwords = Passwords::new(workers)?;
        let metrics = crate::metrics::Metrics::new()?;
        let posts = PostQueue::new(metrics.posts_per_commit());
        let limits = RateLimits::new(&config.rate_limits, metrics.rate_limit_fallbacks())
            .context("REDIS_URL (--redis-url) is not a Redis URL")?;
        let write_gates = WriteGates::new(config.database.lock_timeout);
        let app = App(Arc::new(Inner {
            store: Store::new(db, events, write_gates),
            tokens,
            passwords,
            cursors: Cursors::new(derive_key(&secret, b"charter cursor key")),
            limits,
            config: config.clone(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            live: LiveCounters::default(),
            health: crate::health::Health::default(),
            metrics,
            principals: PrincipalCache::default(),
            posts,
        }));
        app.forget_idle_clients_periodically();
        app.forget_principals_when_announced();
        crate::health::watch(Arc::downgrade(&app.0), |inner| crate::health::Watched {
            db: &inner.store.db,
            health: &inner.health,
            acquire_seconds: inner.metrics.db_acquire(),
        });
        Ok(app)
    }

    /// Whenever an instance sharing the database announces an
    /// invalidation (a revocation or role change there), the listener
    /// forgets the cached principals and profiles as it receives it.
    fn forget_principals_when_announced(&self) {
        let weak = Arc::downgrade(&self.0);
        self.store.events.on_invalidation(move || {
            if let Some(inner) = weak.upgrade() {
                inner.principals.forget_all();
            }
        });
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
