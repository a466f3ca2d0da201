//! Redis for the tests: `TEST_REDIS_URL` when set (and then it must
//! answer: a test fails rather than skips), or a `redis-server` of the
//! test's own on a free port, which a test may also stop and start again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis a test may use: the shared one named by `TEST_REDIS_URL`, or
/// its own.
pub enum TestRedis {
    Shared(String),
    Own(RedisServer),
}

impl TestRedis {
    pub fn get() -> TestRedis {
        match std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(url) => {
                let address = url
                    .trim_start_matches("redis://")
                    .split(['/', '?'])
                    .next()
                    .unwrap_or_default()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                std::net::TcpStream::connect_timeout(
                    &address.parse().expect("TEST_REDIS_URL names host:port"),
                    Duration::from_secs(3),
                )
                .unwrap_or_else(|e| panic!("TEST_REDIS_URL is set but Redis is unreachable: {e}"));
                TestRedis::Shared(url)
            }
            None => TestRedis::Own(RedisServer::start()),
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestRedis::Shared(url) => url.clone(),
            TestRedis::Own(server) => server.url(),
        }
    }
}

/// A `redis-server` of the test's own, keeping nothing on disk; killed
/// when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = super::free_port();
        let mut server = RedisServer { port, child: None };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package) runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server; connections to it fail until [`resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
