//! The command line: subcommands, and every setting as a flag with an
//! environment variable behind it (the flag wins). `charter --help` lists
//! them all; [`Settings::config`] validates them into one [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::MIN_SECRET_BYTES;
use crate::config::Config;
use crate::ratelimit::{Limit, Network};
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "charter",
    version,
    about = "Charter: a real-time messaging API (v1 deprecated, v2 current) over one database.",
    long_about = None,
    after_help = "\
Every setting can also come from the environment variable shown beside it; \
an empty variable counts as unset. Prefer the environment (or a secret store) \
for secrets: command lines are visible to other local users.

Tracing: spans are exported with OTLP over HTTP (protobuf) when \
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; \
the other standard OTEL_* variables (OTEL_SERVICE_NAME, \
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, \
OTEL_SDK_DISABLED, ...) apply. Log verbosity: RUST_LOG (default `info`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve the API (what `charter` does with no subcommand).
    Serve,
    /// Apply the database migrations, then exit.
    Migrate,
    /// Make the account with EMAIL an administrator, creating it when there
    /// is none. Its password is read from CHARTER_ADMIN_PASSWORD or, when
    /// that is unset, from the first line of standard input; an existing
    /// account keeps its password. The only way to grant the role.
    CreateAdmin {
        #[arg(long, value_parser = parse_email)]
        email: String,
        #[arg(long, value_parser = parse_full_name)]
        full_name: String,
    },
    /// Print a bundled OpenAPI document (what /openapi/{version}.yaml
    /// serves), or govern the documents: diff, gate, changelog, bundle.
    #[command(args_conflicts_with_subcommands = true)]
    Openapi {
        #[command(subcommand)]
        action: Option<OpenapiCommand>,
        #[arg(value_enum, default_value_t = ApiVersion::V2)]
        version: ApiVersion,
        #[arg(long, value_enum, default_value_t = SpecFormat::Yaml)]
        format: SpecFormat,
    },
}

/// Contract governance over OpenAPI 3.0 documents.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum OpenapiCommand {
    /// Compare two documents: every change, with its JSON path, its
    /// severity for clients of OLD and what it means. Exit status 0 when
    /// compatible, 1 when a change breaks clients of OLD, 2 when a
    /// document cannot be read.
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// The release gate: each version in SPECS against its released
    /// baseline (SPECS/released/vN.yaml). A version whose operations are
    /// all deprecated is frozen (only descriptions and examples may
    /// change); any other may not break its clients; info.version must
    /// follow semver against the baseline; and no committed move of a
    /// baseline may carry a break. Exit status 0, 1 (failed) or 2.
    Gate {
        #[arg(long, default_value = "openapi")]
        specs: PathBuf,
    },
    /// Markdown of each version's changes since its released baseline,
    /// grouped by operation and severity.
    Changelog {
        #[arg(long, default_value = "openapi")]
        specs: PathBuf,
        /// Only this version (`v2`).
        #[arg(long)]
        version: Option<String>,
    },
    /// Write the portal bundle into DIR: per version the self-contained
    /// document (YAML and JSON), an offline HTML reference and the
    /// changelog, with an index of the versions.
    Bundle {
        dir: PathBuf,
        #[arg(long, default_value = "openapi")]
        specs: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApiVersion {
    V1,
    V2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpecFormat {
    Yaml,
    Json,
}

/// Every setting of the server and its commands.
#[derive(Debug, Args)]
pub struct Settings {
    /// `postgres://…` or `sqlite:PATH`; unset: the embedded SQLite database
    /// at data/charter.db.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address the API listens on.
    #[arg(
        long,
        env = "CHARTER_LISTEN",
        global = true,
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Address of the operator listener (/metrics, /healthz, /readyz), or
    /// `off`. Keep it off the public network.
    #[arg(
        long,
        env = "CHARTER_ADMIN_LISTEN",
        global = true,
        default_value = "127.0.0.1:9464",
        value_parser = parse_admin_listen
    )]
    pub admin_listen: AdminListen,

    /// Token signing secret, at least 32 bytes. Required with DATABASE_URL;
    /// unset with the embedded database, a random one is used (tokens then
    /// die with the process).
    #[arg(
        long,
        env = "CHARTER_TOKEN_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub token_secret: Option<String>,

    /// Earlier signing secrets, comma-separated: tokens they signed stay
    /// valid, so the secret can rotate without logging everyone out.
    #[arg(
        long,
        env = "CHARTER_TOKEN_PREVIOUS_SECRETS",
        global = true,
        hide_env_values = true
    )]
    pub token_previous_secrets: Option<String>,

    /// Lifetime of access tokens (e.g. 900, 15m).
    #[arg(long, env = "CHARTER_ACCESS_TOKEN_TTL", global = true, default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of refresh tokens.
    #[arg(long, env = "CHARTER_REFRESH_TOKEN_TTL", global = true, default_value = "30d", value_parser = parse_duration)]
    pub refresh_token_ttl: Duration,

    /// Requests per client address, as REQUESTS/SECONDS.
    #[arg(
        long,
        env = "CHARTER_RATE_LIMIT",
        global = true,
        default_value = "600/60"
    )]
    pub rate_limit: Limit,

    /// Requests per client address to login and register (REQUESTS/SECONDS).
    #[arg(
        long,
        env = "CHARTER_RATE_LIMIT_AUTH",
        global = true,
        default_value = "10/60"
    )]
    pub rate_limit_auth: Limit,

    /// Requests per user or API key (REQUESTS/SECONDS).
    #[arg(
        long,
        env = "CHARTER_RATE_LIMIT_PRINCIPAL",
        global = true,
        default_value = "600/60"
    )]
    pub rate_limit_principal: Limit,

    /// Proxies (addresses or CIDR networks, comma-separated) whose
    /// X-Forwarded-For / Forwarded headers are believed; none by default.
    #[arg(
        long,
        env = "CHARTER_TRUSTED_PROXIES",
        global = true,
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Network>,

    /// Redis (`redis://host:port[/db]`) holding the rate-limit allowances of
    /// every instance, so N instances together admit what one would. Unset:
    /// each instance keeps its own.
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Longest wait for Redis before a request is judged by this instance's
    /// own limiter instead (e.g. `50ms`).
    #[arg(
        long,
        env = "CHARTER_REDIS_TIMEOUT",
        global = true,
        default_value = "100ms",
        value_parser = parse_duration
    )]
    pub redis_timeout: Duration,

    /// Prefix of Charter's Redis keys, for deployments sharing a server.
    #[arg(
        long,
        env = "CHARTER_REDIS_PREFIX",
        global = true,
        default_value = "charter"
    )]
    pub redis_prefix: String,

    /// Origins allowed to call the API from a browser, comma-separated
    /// (e.g. https://app.example.com); none by default.
    #[arg(long, env = "CHARTER_CORS_ORIGINS", global = true, value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, env = "CHARTER_MAX_BODY_BYTES", global = true, default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: u64,

    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "CHARTER_REQUEST_TIMEOUT", global = true, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// On SIGTERM/SIGINT, how long requests and live sessions in flight
    /// may take to finish before the process exits anyway.
    #[arg(long, env = "CHARTER_DRAIN_TIMEOUT", global = true, default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// On SIGTERM/SIGINT, how long to go on serving, not ready and with
    /// `Connection: close` on every response, before the drain: a load
    /// balancer's health check then takes the instance out while nothing
    /// is refused. Set it above the check's interval times its fall count
    /// (e.g. `2s`); `0` drains at once.
    #[arg(long, env = "CHARTER_SHUTDOWN_DELAY", global = true, default_value = "0", value_parser = parse_delay)]
    pub shutdown_delay: Duration,

    /// Live events per channel a subscriber may fall behind before it must
    /// resume from the database.
    #[arg(long, env = "CHARTER_EVENT_BUFFER", global = true, default_value_t = crate::events::DEFAULT_BUFFER, value_parser = positive)]
    pub event_buffer: usize,

    /// Idle time after which an SSE stream carries a keep-alive comment.
    #[arg(long, env = "CHARTER_SSE_KEEP_ALIVE", global = true, default_value = "15s", value_parser = parse_duration)]
    pub sse_keep_alive: Duration,

    /// How often the server pings a WebSocket client.
    #[arg(long, env = "CHARTER_WS_PING_INTERVAL", global = true, default_value = "20s", value_parser = parse_duration)]
    pub ws_ping_interval: Duration,

    /// A WebSocket silent (not even a pong) for this long is closed.
    #[arg(long, env = "CHARTER_WS_IDLE_TIMEOUT", global = true, default_value = "60s", value_parser = parse_duration)]
    pub ws_idle_timeout: Duration,

    /// How long an unauthenticated WebSocket may take to send `auth`.
    #[arg(long, env = "CHARTER_WS_AUTH_TIMEOUT", global = true, default_value = "10s", value_parser = parse_duration)]
    pub ws_auth_timeout: Duration,

    /// Largest WebSocket message accepted, in bytes (larger: close 1009).
    #[arg(long, env = "CHARTER_WS_MAX_MESSAGE_BYTES", global = true, default_value_t = 64 * 1024, value_parser = positive)]
    pub ws_max_message_bytes: usize,

    /// Outbound messages queued per WebSocket; a client that lets the
    /// queue fill up is disconnected.
    #[arg(long, env = "CHARTER_WS_QUEUE", global = true, default_value_t = 256, value_parser = positive)]
    pub ws_queue: usize,

    /// Longest a request waits for a database lock (PostgreSQL's
    /// lock_timeout, SQLite's busy timeout); beyond it: 503 DATABASE_BUSY.
    #[arg(long, env = "CHARTER_DB_LOCK_TIMEOUT", global = true, default_value = "5s", value_parser = parse_duration)]
    pub db_lock_timeout: Duration,

    /// Longest one PostgreSQL statement may run; beyond it: 503 DATABASE_BUSY.
    #[arg(long, env = "CHARTER_DB_STATEMENT_TIMEOUT", global = true, default_value = "10s", value_parser = parse_duration)]
    pub db_statement_timeout: Duration,

    /// SQLite commit durability: `full` survives an OS crash or power loss;
    /// `normal` is faster but may lose the last commits then.
    #[arg(long, env = "CHARTER_SQLITE_SYNCHRONOUS", global = true, value_enum, default_value_t = crate::db::Synchronous::Full)]
    pub sqlite_synchronous: crate::db::Synchronous,

    /// Most client connections open at once on the API listener (live
    /// sessions included); beyond it new connections are refused at once.
    /// Lowered at startup to fit the process's file-descriptor limit.
    #[arg(long, env = "CHARTER_MAX_CONNECTIONS", global = true, default_value_t = 4096, value_parser = positive)]
    pub max_connections: usize,

    /// Longest the server waits for a request head: from a new connection
    /// to its first complete head, and on a kept-alive connection from one
    /// response to the next head (so it is also the idle keep-alive timeout).
    #[arg(long, env = "CHARTER_HEADER_READ_TIMEOUT", global = true, default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Largest request head (request line and headers) in bytes; larger: 431.
    #[arg(long, env = "CHARTER_MAX_HEADER_BYTES", global = true, default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(8192..=1048576))]
    pub max_header_bytes: u64,

    /// Most header fields in one request; more: 431.
    #[arg(long, env = "CHARTER_MAX_HEADERS", global = true, default_value_t = 100, value_parser = positive)]
    pub max_headers: usize,

    /// Log line format on standard output.
    #[arg(long, env = "CHARTER_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--admin-listen`: an address, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminListen(pub Option<SocketAddr>);

fn parse_admin_listen(text: &str) -> Result<AdminListen, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(AdminListen(None));
    }
    text.parse()
        .map(|address| AdminListen(Some(address)))
        .map_err(|_| format!("`{text}` is neither an address like 127.0.0.1:9464 nor `off`"))
}

/// A duration: whole seconds (`30`) or a number with a unit (`500ms`,
/// `30s`, `15m`, `2h`, `30d`); at least one millisecond.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 15m or 500ms"))?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60 * 1000,
        "h" => 3600 * 1000,
        "d" => 24 * 3600 * 1000,
        other => return Err(format!("`{other}` is not a unit (ms, s, m, h, d)")),
    };
    let millis = number
        .checked_mul(millis_per_unit)
        .ok_or_else(|| format!("`{text}` is too long"))?;
    if millis == 0 {
        return Err("the duration must be positive".to_owned());
    }
    Ok(Duration::from_millis(millis))
}

/// A duration that may be zero (`0`, `2s`, `500ms`).
fn parse_delay(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        Ok(Duration::ZERO)
    } else {
        parse_duration(text)
    }
}

fn positive(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a positive number"))
}

fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/');
    if origin != "*" && (origin.starts_with("https://") || origin.starts_with("http://")) {
        Ok(origin.to_owned())
    } else {
        Err(format!(
            "origins look like https://app.example.com, not `{origin}`"
        ))
    }
}

/// The rules `RegisterRequest` states in openapi/v2.yaml, so `create-admin`
/// cannot create an account the API would have refused.
fn parse_email(email: &str) -> Result<String, String> {
    let shaped = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if shaped {
        Ok(email.to_owned())
    } else {
        Err("an email address of at most 254 bytes".to_owned())
    }
}

fn parse_full_name(name: &str) -> Result<String, String> {
    let chars = name.chars().count();
    if (1..=100).contains(&chars) && !name.contains('\0') {
        Ok(name.to_owned())
    } else {
        Err("1 to 100 characters, without NUL".to_owned())
    }
}

impl Settings {
    /// The validated configuration. Errors name the setting, never a secret.
    pub fn config(&self) -> anyhow::Result<Config> {
        let defaults = Config::default();
        let token_secret = self.token_secret.clone().filter(|s| !s.is_empty());
        if let Some(secret) = &token_secret {
            anyhow::ensure!(
                secret.len() >= MIN_SECRET_BYTES,
                "CHARTER_TOKEN_SECRET (--token-secret) must be at least {MIN_SECRET_BYTES} bytes"
            );
        }
        let token_previous_secrets = match self.token_previous_secrets.as_deref() {
            Some(list) if !list.trim().is_empty() => parse_secret_list(list).map_err(|e| {
                anyhow::anyhow!("CHARTER_TOKEN_PREVIOUS_SECRETS (--token-previous-secrets): {e}")
            })?,
            _ => Vec::new(),
        };
        let database_url = self.database_url.clone().filter(|url| !url.is_empty());
        if let Some(url) = &database_url {
            anyhow::ensure!(
                ["postgres://", "postgresql://", "sqlite:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "DATABASE_URL (--database-url) must start with postgres://, postgresql:// or sqlite:"
            );
        }
        let mut rate_limits = defaults.rate_limits.clone();
        rate_limits.default = self.rate_limit;
        rate_limits.auth = self.rate_limit_auth;
        rate_limits.principal = self.rate_limit_principal;
        rate_limits.trusted_proxies = self.trusted_proxies.clone();
        rate_limits.shared = self
            .redis_url
            .as_ref()
            .filter(|url| !url.trim().is_empty())
            .map(|url| crate::ratelimit::Shared {
                url: url.clone(),
                timeout: self.redis_timeout,
                prefix: self.redis_prefix.clone(),
            });
        let mut live = defaults.live.clone();
        live.sse_keep_alive = self.sse_keep_alive;
        live.ws_ping_interval = self.ws_ping_interval;
        live.ws_idle_timeout = self.ws_idle_timeout;
        live.ws_auth_timeout = self.ws_auth_timeout;
        live.ws_max_message_bytes = self.ws_max_message_bytes;
        live.ws_queue = self.ws_queue;
        anyhow::ensure!(
            self.ws_idle_timeout > self.ws_ping_interval,
            "CHARTER_WS_IDLE_TIMEOUT must be longer than CHARTER_WS_PING_INTERVAL, \
             or every quiet client would be closed"
        );
        Ok(Config {
            database_url,
            listen: self.listen,
            admin_listen: self.admin_listen.0,
            token_secret,
            token_previous_secrets,
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            rate_limits,
            cors_origins: self.cors_origins.clone(),
            max_body_bytes: usize::try_from(self.max_body_bytes)
                .map_err(|_| anyhow::anyhow!("CHARTER_MAX_BODY_BYTES is too large"))?,
            request_timeout: self.request_timeout,
            drain_timeout: self.drain_timeout,
            shutdown_delay: self.shutdown_delay,
            event_buffer: self.event_buffer,
            live,
            database: crate::db::Settings {
                lock_timeout: self.db_lock_timeout,
                statement_timeout: self.db_statement_timeout,
                sqlite_synchronous: self.sqlite_synchronous,
                sqlite_read_connections: None,
            },
            connections: crate::config::ConnectionLimits {
                max_connections: self.max_connections,
                header_read_timeout: self.header_read_timeout,
                max_header_bytes: usize::try_from(self.max_header_bytes)
                    .map_err(|_| anyhow::anyhow!("CHARTER_MAX_HEADER_BYTES is too large"))?,
                max_headers: self.max_headers,
            },
        })
    }
}

/// A comma-separated list of secrets; whitespace around each is ignored and
/// each must be at least [`MIN_SECRET_BYTES`] long. Errors never quote a secret.
fn parse_secret_list(list: &str) -> anyhow::Result<Vec<String>> {
    let mut secrets = Vec::new();
    for (i, secret) in list.split(',').map(str::trim).enumerate() {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "entry #{} must be at least {MIN_SECRET_BYTES} bytes",
            i + 1
        );
        secrets.push(secret.to_owned());
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("charter").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let cli = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.command, None);
        let config = cli.settings.config().unwrap_or_else(|e| panic!("{e}"));
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.admin_listen, defaults.admin_listen);
        assert_eq!(config.access_token_ttl, defaults.access_token_ttl);
        assert_eq!(config.refresh_token_ttl, defaults.refresh_token_ttl);
        assert_eq!(config.rate_limits.default, defaults.rate_limits.default);
        assert_eq!(config.rate_limits.auth, defaults.rate_limits.auth);
        assert_eq!(config.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(config.request_timeout, defaults.request_timeout);
        assert_eq!(config.drain_timeout, defaults.drain_timeout);
        assert_eq!(config.database, defaults.database);
        assert_eq!(config.connections, defaults.connections);
        assert_eq!(config.event_buffer, defaults.event_buffer);
        assert_eq!(config.live.ws_queue, defaults.live.ws_queue);
        assert_eq!(config.live.ws_idle_timeout, defaults.live.ws_idle_timeout);
    }

    #[test]
    fn flags_set_the_configuration() {
        let cli = parse(&[
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--admin-listen",
            "off",
            "--drain-timeout",
            "5s",
            "--rate-limit-auth",
            "3/10",
            "--cors-origins",
            "https://a.example, https://b.example/",
            "--trusted-proxies",
            "10.0.0.0/8,192.168.1.1",
            "--log-format",
            "json",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.command, Some(Command::Serve));
        assert_eq!(cli.settings.log_format, LogFormat::Json);
        let config = cli.settings.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.admin_listen, None);
        assert_eq!(config.drain_timeout, Duration::from_secs(5));
        assert_eq!(config.rate_limits.auth.to_string(), "3/10");
        assert_eq!(
            config.cors_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(config.rate_limits.trusted_proxies.len(), 2);
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        for args in [
            &["--listen", "nowhere"][..],
            &["--drain-timeout", "0"],
            &["--drain-timeout", "5 fortnights"],
            &["--rate-limit", "10"],
            &["--cors-origins", "*"],
            &["--max-body-bytes", "0"],
            &["--ws-queue", "-1"],
            &["--log-format", "xml"],
            &["serve-forever"],
            &["create-admin", "--email", "ada@example.com"],
            &[
                "create-admin",
                "--email",
                "not-an-email",
                "--full-name",
                "Ada",
            ],
            &[
                "create-admin",
                "--email",
                "ada@example.com",
                "--full-name",
                "",
            ],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let short_secret =
            parse(&["--token-secret", "too short"]).unwrap_or_else(|e| panic!("{e}"));
        let error = short_secret.settings.config().err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("CHARTER_TOKEN_SECRET") && !e.contains("too short")),
            "{error:?}"
        );
        let quiet = parse(&["--ws-ping-interval", "60s", "--ws-idle-timeout", "30s"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(quiet.settings.config().is_err());
    }

    #[test]
    fn subcommands_take_their_arguments() {
        let cli = parse(&[
            "create-admin",
            "--full-name=Ada Lovelace",
            "--email=ada@example.com",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.command,
            Some(Command::CreateAdmin {
                email: "ada@example.com".to_owned(),
                full_name: "Ada Lovelace".to_owned()
            })
        );
        let cli = parse(&["openapi", "v1", "--format", "json"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.command,
            Some(Command::Openapi {
                action: None,
                version: ApiVersion::V1,
                format: SpecFormat::Json
            })
        );
        let cli = parse(&[
            "openapi", "diff", "old.yaml", "new.yaml", "--format", "markdown",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.command,
            Some(Command::Openapi {
                action: Some(OpenapiCommand::Diff {
                    old: PathBuf::from("old.yaml"),
                    new: PathBuf::from("new.yaml"),
                    format: ReportFormat::Markdown
                }),
                version: ApiVersion::V2,
                format: SpecFormat::Yaml
            })
        );
        assert!(matches!(
            parse(&["migrate"]).map(|c| c.command),
            Ok(Some(Command::Migrate))
        ));
    }

    #[test]
    fn previous_secrets_are_a_comma_separated_list() {
        let a = "a".repeat(32);
        let b = "b".repeat(40);
        assert_eq!(
            parse_secret_list(&format!("{a}, {b}")).expect("valid"),
            vec![a.clone(), b]
        );
        let error = parse_secret_list(&format!("{a},too-short-secret"))
            .expect_err("short entry")
            .to_string();
        assert!(error.contains("#2"), "{error}");
        assert!(!error.contains("too-short-secret"), "{error}");
        assert!(parse_secret_list(&format!("{a},")).is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn help_documents_every_setting_and_its_variable() {
        let help = Cli::command().render_long_help().to_string();
        for name in [
            "--database-url",
            "DATABASE_URL",
            "--listen",
            "--admin-listen",
            "--token-secret",
            "--drain-timeout",
            "CHARTER_DRAIN_TIMEOUT",
            "--log-format",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "create-admin",
            "migrate",
            "openapi",
        ] {
            assert!(help.contains(name), "--help does not mention {name}");
        }
    }
}
