//! `charter`: serves the API. With no configuration it uses an embedded
//! SQLite database under `./data/` and listens on 127.0.0.1:8080; the
//! operator listener (metrics, probes) is on 127.0.0.1:9464.
//! `charter --help` lists the subcommands and every setting.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use charter::cli::{ApiVersion, Cli, Command, OpenapiCommand, ReportFormat, SpecFormat};
use charter::users::AdminBootstrap;
use charter::{App, Config};
use clap::Parser;

/// Requests allocate and free many small buffers across threads; mimalloc
/// does that with far less contention and fragmentation than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn check_password(password: &str) -> anyhow::Result<()> {
    let chars = password.chars().count();
    anyhow::ensure!(
        (8..=128).contains(&chars),
        "the administrator's password must be 8 to 128 characters long"
    );
    Ok(())
}

/// The new administrator's password: `CHARTER_ADMIN_PASSWORD`, or the first
/// line of standard input.
fn admin_password() -> anyhow::Result<String> {
    let password = match std::env::var("CHARTER_ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!(
                    "Password for the new administrator (shown as typed; \
                     prefer CHARTER_ADMIN_PASSWORD or a pipe): "
                );
                std::io::stderr().flush().ok();
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    check_password(&password)?;
    Ok(password)
}

async fn create_admin(config: &Config, email: &str, full_name: &str) -> anyhow::Result<()> {
    let app = App::build_for_command(config).await?;
    let outcome = charter::users::bootstrap_admin(
        &app.store,
        &app.passwords,
        &app.principals,
        email,
        full_name,
        admin_password,
    )
    .await;
    app.store.db.close().await;
    match outcome? {
        AdminBootstrap::Created(user) => {
            println!("created administrator {} ({})", user.email, user.id);
        }
        AdminBootstrap::Promoted(user) => {
            println!("{} ({}) is now an administrator", user.email, user.id);
        }
        AdminBootstrap::AlreadyAdmin(user) => {
            println!("{} ({}) already is an administrator", user.email, user.id);
        }
    }
    Ok(())
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install()?;
    let mut config = config.clone();
    charter::http::listener::fit_descriptor_limit(&mut config.connections);
    let config = &config;
    charter::api::check_schemas().map_err(anyhow::Error::msg)?;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let admin = match config.admin_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (--admin-listen)"))?,
        ),
        None => None,
    };
    tracing::info!(
        address = %listener.local_addr()?,
        admin_address = admin
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".to_owned()),
        database = app.store.db.backend(),
        "charter is serving"
    );
    // The operator listener outlives the drain, so probes see it and the
    // last figures can be scraped; it stops with the process.
    let admin_stop = tokio_util::sync::CancellationToken::new();
    if let Some(admin) = admin {
        let (app, stop) = (app.clone(), admin_stop.clone());
        tokio::spawn(async move {
            let served = charter::http::serve_admin(admin, app, stop).await;
            if let Err(error) = served {
                tracing::error!(%error, "the operator listener failed");
            }
        });
    }
    let mut server = tokio::spawn(charter::http::serve(listener, app.clone()));
    tokio::select! {
        () = signals.recv() => {}
        served = &mut server => {
            admin_stop.cancel();
            return Err(match served {
                Ok(Ok(())) => anyhow::anyhow!("the listener stopped unexpectedly"),
                Ok(Err(error)) => anyhow::Error::new(error).context("serving failed"),
                Err(error) => anyhow::Error::new(error).context("the server task failed"),
            });
        }
    }
    app.health.start_draining();
    if !config.shutdown_delay.is_zero() {
        tracing::info!(
            shutdown_delay = ?config.shutdown_delay,
            "shutting down: not ready, still serving (each connection closes after its next response) until the delay ends"
        );
        // A second signal skips the rest of the delay.
        tokio::select! {
            () = tokio::time::sleep(config.shutdown_delay) => {}
            () = signals.recv() => {}
        }
    }
    let deadline = tokio::time::Instant::now() + config.drain_timeout;
    tracing::info!(
        drain_timeout = ?config.drain_timeout,
        "shutting down: not ready, no new connections; finishing requests in flight and closing live sessions"
    );
    app.shutdown.cancel();
    if tokio::time::timeout_at(deadline, &mut server)
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at the drain deadline were cut off");
        server.abort();
    }
    // Requests are done; live sessions got 1001 and finish their close handshake.
    while app.live.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin_stop.cancel();
    app.store.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM or SIGINT (Ctrl-C).
/// SIGTERM and SIGINT (Ctrl-C), watched from the moment this is made, so a
/// signal that arrives while the server starts is not lost (nor fatal).
struct ShutdownSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi {
        action,
        version,
        format,
    }) = &cli.command
    {
        return match action {
            None => {
                print!("{}", spec(*version, *format));
                ExitCode::SUCCESS
            }
            Some(action) => openapi(action),
        };
    }
    let config = match cli.settings.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("charter: {error:#}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match charter::telemetry::init(cli.settings.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("charter: {error:#}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&config).await,
        Command::Migrate => migrate(&config).await,
        Command::CreateAdmin { email, full_name } => {
            create_admin(&config, &email, &full_name).await
        }
        Command::Openapi { .. } => Ok(()),
    };
    drop(telemetry);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("charter: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `charter openapi diff|gate|changelog|bundle`: the report on standard
/// output; exit status 0 (compatible, done), 1 (breaking, gate failed) or
/// 2 (a document could not be read or a file written).
fn openapi(action: &OpenapiCommand) -> ExitCode {
    use charter::contract::{self, Outcome};
    use charter_codegen::compat::Format;
    let result = match action {
        OpenapiCommand::Diff { old, new, format } => {
            let format = match format {
                ReportFormat::Text => Format::Text,
                ReportFormat::Markdown => Format::Markdown,
                ReportFormat::Json => Format::Json,
            };
            contract::diff(old, new, format)
        }
        OpenapiCommand::Gate { specs } => contract::gate(specs),
        OpenapiCommand::Changelog { specs, version } => contract::versions(specs).and_then(|all| {
            let chosen: Vec<_> = all
                .iter()
                .filter(|v| version.as_ref().is_none_or(|name| *name == v.name))
                .collect();
            if chosen.is_empty() {
                return Err(contract::Unreadable(format!(
                    "{}: no version {}",
                    specs.display(),
                    version.as_deref().unwrap_or_default()
                )));
            }
            let logs: Result<Vec<String>, _> =
                chosen.into_iter().map(contract::changelog).collect();
            Ok((logs?.join("\n"), Outcome::Compatible))
        }),
        OpenapiCommand::Bundle { dir, specs } => {
            contract::bundle::write(specs, dir).map(|written| (written, Outcome::Compatible))
        }
    };
    match result {
        Ok((report, outcome)) => {
            print!("{report}");
            match outcome {
                Outcome::Compatible => ExitCode::SUCCESS,
                Outcome::Breaking => ExitCode::from(1),
            }
        }
        Err(error) => {
            eprintln!("charter: {error}");
            ExitCode::from(2)
        }
    }
}

fn spec(version: ApiVersion, format: SpecFormat) -> &'static str {
    match (version, format) {
        (ApiVersion::V1, SpecFormat::Yaml) => charter::api::V1_YAML,
        (ApiVersion::V1, SpecFormat::Json) => charter::api::V1_JSON,
        (ApiVersion::V2, SpecFormat::Yaml) => charter::api::V2_YAML,
        (ApiVersion::V2, SpecFormat::Json) => charter::api::V2_JSON,
    }
}

/// Applies the migrations (as serving would) and exits.
async fn migrate(config: &Config) -> anyhow::Result<()> {
    charter::error::install();
    let db = charter::db::Db::connect(&config.database_url_or_default(), &config.database).await?;
    db.close().await;
    println!("migrations applied ({})", db.backend());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_passwords_follow_the_registration_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password("correct horse battery").is_ok());
    }
}
