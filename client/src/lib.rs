#![doc = include_str!("../README.md")]

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    mismatched_lifetime_syntaxes
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/v1.rs"));
}

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    mismatched_lifetime_syntaxes
)]
pub mod v2 {
    include!(concat!(env!("OUT_DIR"), "/v2.rs"));
}

pub mod live;
pub mod pages;
mod policy;
mod retry;
mod session;

pub use policy::{Policy, is_session_revoked};
pub use progenitor_client::{ByteStream, Error, ResponseValue};
pub use retry::Retry;
pub use session::{SessionError, TokenSession};

/// How long a client waits: for a connection, and between two reads of a
/// response. A live stream's keep-alives count as reads, so an open event
/// stream is not cut while the server keeps it alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: std::time::Duration,
    pub read: std::time::Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 60 s between reads (the server's SSE keep-alive is
    /// 15 s and its WebSocket ping 20 s by default).
    fn default() -> Self {
        Timeouts {
            connect: std::time::Duration::from_secs(10),
            read: std::time::Duration::from_secs(60),
        }
    }
}

/// How a client proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// An access token from `login` or `refreshToken`, sent as `Authorization: Bearer`.
    Bearer(String),
    /// An API key, sent in `X-API-Key`.
    ApiKey(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Bearer(_) => "Credentials::Bearer(..)",
            Credentials::ApiKey(_) => "Credentials::ApiKey(..)",
        })
    }
}

impl Credentials {
    /// The header that carries these credentials.
    pub fn headers(&self) -> Result<HeaderMap, reqwest::header::InvalidHeaderValue> {
        let mut headers = HeaderMap::new();
        match self {
            Credentials::Bearer(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Credentials::ApiKey(key) => {
                let mut value = HeaderValue::from_str(key)?;
                value.set_sensitive(true);
                headers.insert("x-api-key", value);
            }
        }
        Ok(headers)
    }

    /// A `reqwest` client that sends these credentials with every request,
    /// with the default [`Timeouts`]; [`ClientBuilder`] uses it.
    pub fn http_client(&self) -> Result<reqwest::Client, Box<dyn std::error::Error + Send + Sync>> {
        self.http_client_with(Timeouts::default())
    }

    /// Like [`Credentials::http_client`], with `timeouts` of your own.
    pub fn http_client_with(
        &self,
        timeouts: Timeouts,
    ) -> Result<reqwest::Client, Box<dyn std::error::Error + Send + Sync>> {
        Ok(reqwest::Client::builder()
            .default_headers(self.headers()?)
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .build()?)
    }
}

/// Builds a client: where it connects, who it is, how long it waits and
/// how it retries.
///
/// ```no_run
/// # fn run(session: charter_client::TokenSession) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use charter_client::{ClientBuilder, Retry};
/// let client = ClientBuilder::new("http://127.0.0.1:8080")
///     .session(session)
///     .retry(Retry { max_attempts: 5, ..Retry::default() })
///     .v2()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    timeouts: Timeouts,
    policy: Policy,
}

impl ClientBuilder {
    /// Anonymous, [`Timeouts::default`], [`Retry::default`], automatic
    /// `Idempotency-Key` on `createMessage`.
    pub fn new(base_url: &str) -> Self {
        ClientBuilder {
            base_url: base_url.to_owned(),
            credentials: None,
            timeouts: Timeouts::default(),
            policy: Policy::default(),
        }
    }

    /// Sends `credentials` with every request.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sends the session's access token with every request, renewed before
    /// it expires and after a 401.
    pub fn session(mut self, session: TokenSession) -> Self {
        self.policy.session = Some(session);
        self
    }

    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn retry(mut self, retry: Retry) -> Self {
        self.policy.retry = retry;
        self
    }

    /// Whether `createMessage` gets an `Idempotency-Key` of the client's own
    /// when the caller gives none (on by default).
    pub fn idempotency_keys(mut self, on: bool) -> Self {
        self.policy.idempotency_keys = on;
        self
    }

    fn http_client(&self) -> Result<reqwest::Client, Box<dyn std::error::Error + Send + Sync>> {
        match &self.credentials {
            Some(credentials) => credentials.http_client_with(self.timeouts),
            None => Ok(reqwest::Client::builder()
                .connect_timeout(self.timeouts.connect)
                .read_timeout(self.timeouts.read)
                .build()?),
        }
    }

    /// A client of the current API.
    pub fn v2(&self) -> Result<v2::Client, Box<dyn std::error::Error + Send + Sync>> {
        Ok(v2::Client::new_with_client(
            &self.base_url,
            self.http_client()?,
            self.policy.clone(),
        ))
    }

    /// A client of the legacy API.
    pub fn v1(&self) -> Result<v1::Client, Box<dyn std::error::Error + Send + Sync>> {
        Ok(v1::Client::new_with_client(
            &self.base_url,
            self.http_client()?,
            self.policy.clone(),
        ))
    }
}

/// A v2 client that authenticates every request with `credentials`.
pub fn v2_client(
    base_url: &str,
    credentials: &Credentials,
) -> Result<v2::Client, Box<dyn std::error::Error + Send + Sync>> {
    ClientBuilder::new(base_url)
        .credentials(credentials.clone())
        .v2()
}

/// A v2 client that authenticates every request with `credentials` and
/// waits as `timeouts` allow.
pub fn v2_client_with(
    base_url: &str,
    credentials: &Credentials,
    timeouts: Timeouts,
) -> Result<v2::Client, Box<dyn std::error::Error + Send + Sync>> {
    ClientBuilder::new(base_url)
        .credentials(credentials.clone())
        .timeouts(timeouts)
        .v2()
}

/// A v1 client that authenticates every request with `credentials`.
pub fn v1_client(
    base_url: &str,
    credentials: &Credentials,
) -> Result<v1::Client, Box<dyn std::error::Error + Send + Sync>> {
    ClientBuilder::new(base_url)
        .credentials(credentials.clone())
        .v1()
}
