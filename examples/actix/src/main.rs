//! `sessile-actix-example`: sessile on actix-web, with sessions in SQLite.
//!
//! ```text
//! cargo run -p sessile-actix-example      # http://127.0.0.1:3000, sessions in sessile-actix-example.sqlite
//! curl -c jar -b jar -X POST -d user=alice http://127.0.0.1:3000/login
//! curl -c jar -b jar -X POST http://127.0.0.1:3000/count
//! ```
//!
//! | route | what it does |
//! |---|---|
//! | `POST /login` (form `user`) | signs in on a fresh session id |
//! | `POST /count` | `{"count": N}` after an atomic increment |
//! | `GET /sessions` | the signed-in user's sessions as JSON (`[]` when signed out) |
//! | `POST /logout` | ends this session and clears the cookie |
//!
//! Environment: `PORT` (default 3000; 0 picks a free port), `SESSILE_DB` (default
//! `sessile-actix-example.sqlite`), `RUST_LOG` (default `info`). The listening address is
//! logged once the socket is bound. The signing key is generated at every start, so a restart
//! signs everyone out; a real app loads its keys from configuration (see `examples/demo`).

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;
use sessile::cleanup::Cleanup;
use sessile::{Config, CookieConfig, Keys, SessionManager, SignedIds, Store};
use sessile_actix::{Session, SessionMiddleware};
use sessile_sql::SqliteStore;
use tracing_subscriber::EnvFilter;

const DEFAULT_PORT: u16 = 3000;
const DEFAULT_DB: &str = "sessile-actix-example.sqlite";
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
const COUNT_KEY: &str = "count";

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, sessile_actix::Error> {
    let user = form.user.trim();
    if user.is_empty() {
        return Ok(HttpResponse::BadRequest().body("enter a user name"));
    }
    // Loading first turns a stale cookie into a fresh session instead of an update of nothing.
    session.user().await?;
    // A new signed-in user gets a new session id and CSRF secret at commit
    // (`ConfigBuilder::rotate_on_sign_in`, on by default): no id planted before sign-in survives it.
    session.set_user(Some(user));
    Ok(HttpResponse::Ok().body(format!("signed in as {user}")))
}

async fn count(session: Session) -> Result<HttpResponse, sessile_actix::Error> {
    let count = session.increment(COUNT_KEY, 1).await?;
    Ok(HttpResponse::Ok().json(json!({ "count": count })))
}

async fn sessions(session: Session) -> Result<HttpResponse, sessile_actix::Error> {
    Ok(HttpResponse::Ok().json(session.user_sessions().await?))
}

async fn logout(session: Session) -> HttpResponse {
    session.destroy();
    HttpResponse::Ok().body("signed out")
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port = match std::env::var("PORT") {
        Ok(text) => text
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number, not {text:?}"))?,
        Err(_) => DEFAULT_PORT,
    };
    let db_path = PathBuf::from(std::env::var("SESSILE_DB").unwrap_or_else(|_| DEFAULT_DB.into()));
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&db_path)
            .await
            .map_err(|error| format!("cannot open {}: {error}", db_path.display()))?,
    );
    // Plain http on 127.0.0.1: without Secure, so the cookie is `id`, not `__Host-id`. Keep the
    // default (Secure, __Host-id) behind HTTPS.
    let ids = SignedIds::new(Keys::generate())
        .with_cookie(CookieConfig::builder().secure(false).build()?);
    let manager = SessionManager::new(store.clone(), ids, Config::default());
    let _cleanup = Cleanup::new(store).every(CLEANUP_INTERVAL).spawn();

    // Bound here rather than by `HttpServer::bind` so that port 0 reports the port it got.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    tracing::info!(
        "sessile actix example on http://{}, sessions in {}",
        listener.local_addr()?,
        db_path.display()
    );
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(manager.clone()))
            .route("/login", web::post().to(login))
            .route("/count", web::post().to(count))
            .route("/sessions", web::get().to(sessions))
            .route("/logout", web::post().to(logout))
    })
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}
