#![doc = include_str!("../README.md")]

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

mod generated;
mod hooks;
pub mod live;
pub mod pages;
mod policy;
mod retry;
mod session;
mod timeouts;

pub use generated::{v1, v2};
pub use policy::{Policy, SessionError, TokenSource, is_session_revoked};
pub use progenitor_client::{ByteStream, Error, ResponseValue};
pub use retry::Retry;
pub use session::TokenSession;
pub use timeouts::Timeouts;

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
        Ok(timeouts.http().default_headers(self.headers()?).build()?)
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
    /// it expires and after a 401: a [`TokenSession`], or a [`TokenSource`]
    /// of your own.
    pub fn session(mut self, session: impl TokenSource + 'static) -> Self {
        self.policy.session = Some(std::sync::Arc::new(session));
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
            None => Ok(self.timeouts.http().build()?),
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
