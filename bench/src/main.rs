//! `sessile-bench [actix-]<store>`: serves the peer harness's endpoints on 127.0.0.1:$PORT with
//! the named sessile store (cookie, memory, sqlite, postgres, mysql, redis), on axum, or on
//! actix-web with the `actix-` prefix. With `$FILL=N` the axum server first creates N live
//! sessions in its store (how the scale benchmark fills the memory store, which lives in the
//! server).
//!
//! `sessile-bench fill <store> N`: creates N live sessions in a server-side store and exits,
//! printing how long it took; for the memory store (which the process drops on exit) also its
//! resident memory before and after, the bytes per session. `bench/scale.sh` uses both.

use std::process::ExitCode;

use sessile::{Config, Keys};
use sessile_bench::fill::{fill, resident_bytes};
use sessile_bench::{manager, manager_of, open_store, router, Settings, StoreKind};
use tracing_subscriber::filter::LevelFilter;

const USAGE: &str =
    "usage: sessile-bench [actix-]<cookie|memory|sqlite|postgres|mysql|redis>\n       \
                     sessile-bench fill <memory|sqlite|postgres|mysql|redis> N";

fn main() -> ExitCode {
    // Warnings and errors only: per-request events at a lower level must cost nothing here.
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .init();
    let outcome = match std::env::args().nth(1) {
        None => Err(USAGE.into()),
        Some(name) if name == "fill" => tokio::runtime::Runtime::new()
            .map_err(Into::into)
            .and_then(|runtime| runtime.block_on(run_fill())),
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

async fn run_fill() -> Outcome {
    let mut args = std::env::args().skip(2);
    let (Some(store), Some(count), None) = (args.next(), args.next(), args.next()) else {
        return Err(USAGE.into());
    };
    let kind: StoreKind = store.parse()?;
    let count: u64 = count
        .parse()
        .map_err(|_| format!("{count:?} is not a number of sessions"))?;
    let store = open_store(kind, &Settings::from_env()?).await?;
    let before = resident_bytes();
    let filled = fill(&*store, count, &Config::default()).await?;
    let seconds = filled.elapsed.as_secs_f64();
    println!(
        "filled {} sessions into {} in {seconds:.1} s ({:.0} per second)",
        filled.created,
        kind.name(),
        filled.created as f64 / seconds.max(1e-9)
    );
    if kind == StoreKind::Memory {
        if let (Some((rss_before, _)), Some((rss_after, peak))) = (before, resident_bytes()) {
            let grown = rss_after.saturating_sub(rss_before);
            println!(
                "resident memory {rss_before} -> {rss_after} bytes (peak {peak}): {:.0} bytes per session",
                grown as f64 / (count.max(1) as f64)
            );
        }
    }
    Ok(())
}

/// `$FILL`: how many sessions the server creates in its store before it listens.
fn fill_count() -> Result<u64, String> {
    match std::env::var("FILL") {
        Err(_) => Ok(0),
        Ok(text) => text
            .parse()
            .map_err(|_| format!("FILL={text:?} is not a number of sessions")),
    }
}

async fn run_axum(name: String) -> Outcome {
    let kind: StoreKind = name.parse()?;
    let settings = Settings::from_env()?;
    let count = fill_count()?;
    let manager = if count > 0 {
        let store = open_store(kind, &settings).await?;
        let filled = fill(&*store, count, &Config::default()).await?;
        eprintln!(
            "sessile-bench[{}] filled {count} sessions in {:.1} s",
            kind.name(),
            filled.elapsed.as_secs_f64()
        );
        manager_of(store, Keys::generate())
    } else {
        manager(kind, &settings, Keys::generate()).await?
    };
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
