//! `charter`: serves the API. With no configuration it uses an embedded
//! SQLite database under `./data/` and listens on 127.0.0.1:8080.

use anyhow::Context;
use charter::{App, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::from_env()?;
    charter::api::check_schemas().map_err(anyhow::Error::msg)?;
    let app = App::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = app.db.backend(),
        "charter is serving"
    );
    charter::http::serve(listener, app).await?;
    Ok(())
}
