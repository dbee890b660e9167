//! `sessile-bench [actix-]<store>`: serves the peer harness's endpoints on 127.0.0.1:$PORT with
//! the named sessile store (cookie, memory, sqlite, postgres, mysql, redis), on axum, or on
//! actix-web with the `actix-` prefix.

use std::process::ExitCode;

use sessile::Keys;
use sessile_bench::{manager, router, Settings, StoreKind};
use tracing_subscriber::filter::LevelFilter;

const USAGE: &str = "usage: sessile-bench [actix-]<cookie|memory|sqlite|postgres|mysql|redis>";

fn main() -> ExitCode {
    // Warnings and errors only: per-request events at a lower level must cost nothing here.
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .init();
    let outcome = match std::env::args().nth(1) {
        None => Err(USAGE.into()),
        // actix-web runs a single-threaded runtime per worker; its system runtime opens the store.
        Some(name) => match name.strip_prefix("actix-") {
            Some(store) => actix_web::rt::System::new().block_on(run_actix(store.to_owned())),
            None => tokio::runtime::Runtime::new()
                .map_err(Into::into)
                .and_then(|runtime| runtime.block_on(run_axum(name))),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessile-bench: {error}");
            ExitCode::from(2)
        }
    }
}

type Outcome = Result<(), Box<dyn std::error::Error>>;

async fn run_axum(name: String) -> Outcome {
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

async fn run_actix(store: String) -> Outcome {
    let kind: StoreKind = store.parse()?;
    let settings = Settings::from_env()?;
    let manager = manager(kind, &settings, Keys::generate()).await?;
    eprintln!(
        "sessile-bench[actix-{}] listening on 127.0.0.1:{}",
        kind.name(),
        settings.port
    );
    sessile_bench::actix::serve(manager, settings.port).await?;
    Ok(())
}
