//! The same four endpoints on actix-web, behind [`sessile_actix::SessionMiddleware`]: the rows
//! `actix-<store>` of `bench/peers.conf`, measured beside actix-session and bare actix-web.

use actix_web::{web, App, HttpServer};
use serde::Deserialize;
use sessile::SessionManager;
use sessile_actix::{Error, Session, SessionMiddleware};

use crate::{held_keys, DEFAULT_KEY_COUNT};

/// Serves the endpoints on `127.0.0.1:port` until the process ends, with actix-web's default
/// worker count (one per core), as the actix-session rows run.
///
/// ```no_run
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
///
/// let ids = SignedIds::new(Keys::generate()).with_cookie(sessile_bench::cookie());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// actix_web::rt::System::new().block_on(sessile_bench::actix::serve(manager, 3157))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn serve(manager: SessionManager, port: u16) -> std::io::Result<()> {
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(manager.clone()))
            .configure(routes)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

/// The four endpoints, for an app that wraps them in [`SessionMiddleware`].
///
/// ```
/// use actix_web::App;
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// use sessile_actix::SessionMiddleware;
///
/// let ids = SignedIds::new(Keys::generate()).with_cookie(sessile_bench::cookie());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let app = App::new()
///     .wrap(SessionMiddleware::new(manager))
///     .configure(sessile_bench::actix::routes);
/// # let _ = app;
/// ```
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/plain", web::get().to(plain))
        .route("/count", web::get().to(count))
        .route("/set", web::get().to(set))
        .route("/keys", web::get().to(keys));
}

async fn plain() -> &'static str {
    "ok"
}

async fn count(session: Session) -> Result<String, Error> {
    Ok(session.increment("n", 1).await?.to_string())
}

#[derive(Deserialize)]
struct SetQuery {
    k: String,
}

async fn set(session: Session, query: web::Query<SetQuery>) -> Result<&'static str, Error> {
    session.insert(&query.k, 1)?;
    Ok("ok")
}

#[derive(Deserialize)]
struct KeysQuery {
    n: Option<u32>,
}

async fn keys(session: Session, query: web::Query<KeysQuery>) -> Result<String, Error> {
    let data = session.data().await?;
    let count = query.n.unwrap_or(DEFAULT_KEY_COUNT);
    Ok(held_keys(&data, count).to_string())
}
