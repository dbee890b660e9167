//! `sessile-demo`: the demo app on SQLite at http://127.0.0.1:3000.
//!
//! Environment: `PORT` (default 3000), `SESSILE_DB` (default `sessile-demo.sqlite` in the current
//! directory), `SESSILE_KEYS` (comma-separated secrets of at least 32 bytes; without it a random
//! key is generated once and kept in `<SESSILE_DB>.key`), `RUST_LOG` (default `info`).
//!
//! `GET /metrics` answers sessile's metrics in the Prometheus text format.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use rand::RngCore;
use sessile::cleanup::Cleanup;
use sessile::{Config, CookieConfig, Key, Keys, SessionManager, SignedIds, Store};
use sessile_sql::SqliteStore;
use tracing_subscriber::EnvFilter;

const DEFAULT_PORT: u16 = 3000;
const DEFAULT_DB: &str = "sessile-demo.sqlite";
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("sessile-demo stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let port = match std::env::var("PORT") {
        Ok(text) => text
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number, not {text:?}"))?,
        Err(_) => DEFAULT_PORT,
    };
    let db_path = PathBuf::from(std::env::var("SESSILE_DB").unwrap_or_else(|_| DEFAULT_DB.into()));

    let keys = load_keys(&db_path)?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&db_path)
            .await
            .map_err(|error| format!("cannot open {}: {error}", db_path.display()))?,
    );
    tracing::info!("sessions are stored in {}", db_path.display());

    tracing::warn!(
        "the session cookie is sent without Secure because this demo serves plain http on \
         127.0.0.1, and so is named `id`, not `__Host-id` (browsers drop a __Host- cookie \
         without Secure); keep the default (Secure, __Host-id) behind HTTPS"
    );
    let ids = SignedIds::new(keys).with_cookie(CookieConfig::builder().secure(false).build()?);
    // The devices list shows each session's IP address, so two browsers of the same kind can
    // be told apart; sessile keeps no address unless the app opts in like this.
    let config = Config::builder().record_ip(true).build()?;
    tracing::info!("client IP addresses are kept with each session for the devices list");
    // The recorder comes first: the manager registers its metrics when it is built.
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))?;
    let manager = SessionManager::new(store.clone(), ids, config);

    // Cleanup logs and backs off on store errors; it never ends the process.
    let _cleanup = Cleanup::new(store).every(CLEANUP_INTERVAL).spawn();

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    tracing::info!("sessile demo on http://{}", listener.local_addr()?);
    // `/metrics` is added after the app's layers: a scrape carries no session and no CSRF token.
    let app = sessile_demo::app(manager).route(
        "/metrics",
        get(move || std::future::ready(metrics.render())),
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("sessile demo stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Keys from `SESSILE_KEYS`, else the key kept next to the database (created on first run), so
/// a restart keeps everyone signed in.
fn load_keys(db_path: &Path) -> Result<Keys, BoxError> {
    if let Ok(list) = std::env::var("SESSILE_KEYS") {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .enumerate()
            .map(|(index, secret)| {
                Key::from_secret(secret.as_bytes())
                    .map_err(|error| format!("SESSILE_KEYS entry {}: {error}", index + 1))
            })
            .collect::<Result<Vec<Key>, String>>()?;
        let count = keys.len();
        let keys = Keys::new(keys).map_err(|error| format!("SESSILE_KEYS: {error}"))?;
        tracing::info!("session keys: {count} from SESSILE_KEYS (the first signs)");
        return Ok(keys);
    }
    let key_path = key_file_path(db_path);
    let secret = match std::fs::read_to_string(&key_path) {
        Ok(text) => {
            let secret = decode_hex(text.trim())
                .ok_or_else(|| format!("{} does not hold a hex key", key_path.display()))?;
            tracing::info!(
                "session key: loaded from {} (set SESSILE_KEYS to use your own)",
                key_path.display()
            );
            secret
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            write_secret_file(&key_path, &encode_hex(&secret))
                .map_err(|error| format!("cannot write {}: {error}", key_path.display()))?;
            tracing::info!(
                "session key: generated a random key and saved it to {} so restarts keep users \
                 signed in (set SESSILE_KEYS to use your own)",
                key_path.display()
            );
            secret
        }
        Err(error) => return Err(format!("cannot read {}: {error}", key_path.display()).into()),
    };
    let key =
        Key::from_secret(&secret).map_err(|error| format!("{}: {error}", key_path.display()))?;
    Ok(Keys::new(vec![key])?)
}

fn key_file_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Creates the file readable by its owner only; never overwrites one a concurrent start wrote.
fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é1"), None);
    }

    #[test]
    fn the_key_file_sits_next_to_the_database() {
        assert_eq!(
            key_file_path(Path::new("/tmp/x/demo.sqlite")),
            PathBuf::from("/tmp/x/demo.sqlite.key")
        );
    }
}
