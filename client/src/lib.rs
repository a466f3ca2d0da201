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

pub use progenitor_client::{ByteStream, Error, ResponseValue};

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
    /// with the default [`Timeouts`]; pass it to `Client::new_with_client`.
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

/// A v2 client that authenticates every request with `credentials`.
pub fn v2_client(
    base_url: &str,
    credentials: &Credentials,
) -> Result<v2::Client, Box<dyn std::error::Error + Send + Sync>> {
    Ok(v2::Client::new_with_client(
        base_url,
        credentials.http_client()?,
    ))
}

/// A v2 client that authenticates every request with `credentials` and
/// waits as `timeouts` allow.
pub fn v2_client_with(
    base_url: &str,
    credentials: &Credentials,
    timeouts: Timeouts,
) -> Result<v2::Client, Box<dyn std::error::Error + Send + Sync>> {
    Ok(v2::Client::new_with_client(
        base_url,
        credentials.http_client_with(timeouts)?,
    ))
}

/// A v1 client that authenticates every request with `credentials`.
pub fn v1_client(
    base_url: &str,
    credentials: &Credentials,
) -> Result<v1::Client, Box<dyn std::error::Error + Send + Sync>> {
    Ok(v1::Client::new_with_client(
        base_url,
        credentials.http_client()?,
    ))
}
