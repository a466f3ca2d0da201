//! The server's settings: what the command line and environment
//! (the `cli` module) give, validated, with safe defaults.

use std::net::SocketAddr;
use std::time::Duration;

use crate::db::DEFAULT_SQLITE_PATH;

/// The server's settings, from the command line and environment (the `cli` module).
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
    /// How long to keep serving, not ready, after a shutdown signal and
    /// before the drain (for a load balancer to notice).
    pub shutdown_delay: Duration,
    /// Live events per channel a subscriber may fall behind before it is
    /// told it lagged (and must resume from the database).
    pub event_buffer: usize,
    /// Keep-alive, ping, timeout and size settings of SSE and WebSocket sessions.
    pub live: LiveSettings,
    /// Lock and statement timeouts, and SQLite's commit durability.
    pub database: crate::db::Settings,
    /// Bounds on client connections: how many, how long a request head may
    /// take, how large it may be.
    pub connections: ConnectionLimits,
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
            .field("shutdown_delay", &self.shutdown_delay)
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
            shutdown_delay: Duration::ZERO,
            event_buffer: crate::events::DEFAULT_BUFFER,
            live: LiveSettings::default(),
            database: crate::db::Settings::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// Bounds on one listener's connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Keep-alive, ping, timeout and size settings of live sessions.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Idle time after which an SSE stream carries a keep-alive comment.
    pub sse_keep_alive: Duration,
    /// How often the server pings a WebSocket client.
    pub ws_ping_interval: Duration,
    /// A WebSocket from which nothing (not even a pong) arrived for this
    /// long is closed.
    pub ws_idle_timeout: Duration,
    /// How long an unauthenticated WebSocket may take to send `auth`.
    pub ws_auth_timeout: Duration,
    /// Largest WebSocket message accepted; larger closes with 1009.
    pub ws_max_message_bytes: usize,
    /// Outbound messages queued per WebSocket; a client that lets the queue
    /// fill up is disconnected.
    pub ws_queue: usize,
    /// Longest one outbound WebSocket frame may take to be written.
    pub ws_send_timeout: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            sse_keep_alive: Duration::from_secs(15),
            ws_ping_interval: Duration::from_secs(20),
            ws_idle_timeout: Duration::from_secs(60),
            ws_auth_timeout: Duration::from_secs(10),
            ws_max_message_bytes: 64 * 1024,
            ws_queue: 256,
            ws_send_timeout: Duration::from_secs(10),
        }
    }
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
