//! How long a client waits.

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

impl Timeouts {
    /// An HTTP client builder that waits as these timeouts say.
    pub(crate) fn http(self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
    }
}
