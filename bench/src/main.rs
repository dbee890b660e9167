//! `sessile-bench <store>`: serves the peer harness's endpoints on 127.0.0.1:$PORT with the
//! named sessile store (cookie, memory, sqlite, postgres, mysql, redis).

use std::process::ExitCode;

use sessile::Keys;
use sessile_bench::{manager, router, Settings, StoreKind};
use tracing_subscriber::filter::LevelFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Warnings and errors only: per-request events at a lower level must cost nothing here.
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessile-bench: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let Some(name) = std::env::args().nth(1) else {
        return Err("usage: sessile-bench <cookie|memory|sqlite|postgres|mysql|redis>".into());
    };
    let kind: StoreKind = name.parse()?;
    let settings = Settings::from_env()?;
    let manager = manager(kind, &settings, Keys::generate()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.port)).await?;
    eprintln!(
        "sessile-bench[{}] listening on 127.0.0.1:{}",
        kind.name(),
        settings.port
    );
    axum::serve(listener, router(manager)).await?;
    Ok(())
}
