//! `charter`: serves the API. With no configuration it uses an embedded
//! SQLite database under `./data/` and listens on 127.0.0.1:8080.
//!
//! `charter create-admin --email EMAIL --full-name NAME` makes an account an
//! administrator, creating it if needed; the only way to grant the role.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use charter::users::AdminBootstrap;
use charter::{App, Config};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage:
  charter                                            serve the API
  charter create-admin --email EMAIL --full-name NAME
      make the account with EMAIL an administrator, creating it when there is
      none; its password is read from CHARTER_ADMIN_PASSWORD or, when that is
      unset, from the first line of standard input. An existing account keeps
      its password.
  charter --help                                     show this text

Configuration comes from the environment; see README.md.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve,
    CreateAdmin { email: String, full_name: String },
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let Some(first) = args.next() else {
        return Ok(Command::Serve);
    };
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "create-admin" => {
            let (mut email, mut full_name) = (None, None);
            while let Some(arg) = args.next() {
                let (flag, inline) = match arg.split_once('=') {
                    Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                    None => (arg.clone(), None),
                };
                let slot = match flag.as_str() {
                    "--email" => &mut email,
                    "--full-name" => &mut full_name,
                    "-h" | "--help" => return Ok(Command::Help),
                    _ => return Err(format!("create-admin: unknown argument `{arg}`")),
                };
                let value = match inline {
                    Some(value) => value,
                    None => args
                        .next()
                        .ok_or_else(|| format!("create-admin: {flag} needs a value"))?,
                };
                if slot.replace(value).is_some() {
                    return Err(format!("create-admin: {flag} is given twice"));
                }
            }
            let email = email.ok_or("create-admin: --email is required")?;
            let full_name = full_name.ok_or("create-admin: --full-name is required")?;
            check_email(&email)?;
            check_full_name(&full_name)?;
            Ok(Command::CreateAdmin { email, full_name })
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// The rules `RegisterRequest` states in openapi/v2.yaml, so the command
/// cannot create an account the API would have refused.
fn check_email(email: &str) -> Result<(), String> {
    let shaped = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if shaped {
        Ok(())
    } else {
        Err("create-admin: --email must be an email address of at most 254 bytes".to_owned())
    }
}

fn check_full_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if (1..=100).contains(&chars) && !name.contains('\0') {
        Ok(())
    } else {
        Err("create-admin: --full-name must be 1 to 100 characters, without NUL".to_owned())
    }
}

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
    let outcome = charter::users::bootstrap_admin(&app, email, full_name, admin_password).await;
    app.db.close().await;
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
    charter::api::check_schemas().map_err(anyhow::Error::msg)?;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = app.db.backend(),
        "charter is serving"
    );
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: closing live sessions, finishing requests in flight");
        shutdown.cancel();
    });
    charter::http::serve(listener, app.clone()).await?;
    // Requests are done; give live sessions a moment to send their close frames.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.live.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the server gracefully");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("charter: {message}\n\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Serve => serve(&Config::from_env()?).await?,
        Command::CreateAdmin { email, full_name } => {
            create_admin(&Config::from_env()?, &email, &full_name).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn no_arguments_serve() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn create_admin_takes_an_email_and_a_name() {
        let expected = Command::CreateAdmin {
            email: "ada@example.com".to_owned(),
            full_name: "Ada Lovelace".to_owned(),
        };
        assert_eq!(
            parse(&[
                "create-admin",
                "--email",
                "ada@example.com",
                "--full-name",
                "Ada Lovelace"
            ]),
            Ok(expected)
        );
        assert!(matches!(
            parse(&["create-admin", "--full-name=Ada", "--email=ada@example.com"]),
            Ok(Command::CreateAdmin { .. })
        ));
    }

    #[test]
    fn create_admin_rejects_bad_arguments() {
        for args in [
            &["create-admin"][..],
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
            &["create-admin", "--email"],
            &[
                "create-admin",
                "--email=a@b.c",
                "--email=d@e.f",
                "--full-name=X",
            ],
            &["create-admin", "--password", "x"],
            &["serve-forever"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn admin_passwords_follow_the_registration_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password("correct horse battery").is_ok());
    }
}
