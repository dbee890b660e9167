//! sessile's demo app: sign in with any name, count clicks, see and sign out your devices.
//!
//! [`app`] builds the whole router over any [`SessionManager`], so the binary runs it on SQLite
//! and the tests run the same router over SQLite or memory.
//!
//! HTTP contract (used by the tests, the smoke script, the browser tests and curl users). Every
//! request whose method is not GET, HEAD, OPTIONS or TRACE carries a CSRF token of its session:
//! the `_csrf` field of the page's forms, or the `x-csrf-token` header (what `GET /api/csrf`
//! answers). Without a valid one it is answered 403 and changes nothing.
//!
//! | request | effect |
//! | --- | --- |
//! | `GET /` | HTML: a sign-in form, or the counter and "where you're signed in" |
//! | `POST /login` (form `user`) | signs in on a fresh id with empty data and a new CSRF secret, 303 to `/` |
//! | `POST /count` | adds one to the counter, 303 to `/` |
//! | `GET /sessions/revoke?key=K` | asks to confirm signing out one of your sessions |
//! | `POST /sessions/revoke` (form `key`, `confirm=yes` for this very session) | ends one of your sessions, 303 to `/` |
//! | `POST /sessions/revoke-others` | ends all your other sessions, 303 to `/` |
//! | `POST /logout` | ends this session, 303 to `/` |
//! | `GET /api/csrf` | `{"token": "..."}` for the request's session, creating the session if needed |
//! | `POST /api/count` | `{"count": N}` after an atomic increment |
//! | `GET /api/session` | `{"user": ..., "data": {...}}` (without the CSRF secret and the pending message) |
//! | `GET /api/sessions` | your sessions: `key`, `device`, `created_at`, `last_seen`, `expires_at`, `current` |
//! | `GET /style.css`, `GET /favicon.svg`, `GET /favicon.ico` | the stylesheet and the icon |
//!
//! Unsafe requests that a browser marks as coming from another origin (`Sec-Fetch-Site` other
//! than `same-origin` or `none`, or an `Origin` that is not this host) are refused before the
//! token is looked at; see [`cross_origin`]. Errors outside `/api/` are answered with an HTML
//! page with a heading and a link back ([`error_pages`]).
//!
//! ```
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let router: axum::Router = sessile_demo::app(manager);
//! # let _ = router;
//! ```

#![warn(missing_docs)]

pub mod assets;
pub mod cross_origin;
pub mod error_pages;
mod pages;
mod sessions;

use std::time::SystemTime;

use axum::extract::{Form, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sessile::csrf::Csrf;
use sessile::{SessionManager, StoreKey, Timestamp};
use sessile_axum::{CsrfLayer, CsrfToken, Error, Session, SessionLayer};

pub use pages::{escape_html, format_time};
use sessions::{session_page, session_rows, SessionRow};

/// The session key holding the counter.
pub const COUNT_KEY: &str = "count";
/// The session key holding the message shown once on the next page ("Signed in as ...").
pub const FLASH_KEY: &str = "_flash";
/// The longest user name accepted, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;

/// The demo's router with its layers. Add routes in [`routes`]: every route gets the session,
/// the CSRF check on unsafe methods, the cross-origin check and the HTML error pages.
pub fn app(manager: SessionManager) -> Router {
    // With `Router::layer` the layer added last runs first: error pages see every answer, the
    // cross-origin check refuses before a session is loaded, and the CSRF check runs inside
    // the session layer, which it needs.
    routes()
        .layer(CsrfLayer::new())
        .layer(SessionLayer::new(manager))
        .layer(middleware::from_fn(cross_origin::refuse_cross_origin))
        .layer(middleware::from_fn(error_pages::dress_errors))
}

/// The demo's routes without its layers.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/count", post(count_form))
        .route("/logout", post(logout))
        .route("/sessions/revoke", get(confirm_revoke).post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
        .route("/api/csrf", get(api_csrf))
        .route("/api/count", post(api_count))
        .route("/api/session", get(api_session))
        .route("/api/sessions", get(api_sessions))
        .route("/style.css", get(assets::stylesheet))
        .route("/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(error_pages::not_found)
        .method_not_allowed_fallback(error_pages::method_not_allowed)
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

#[derive(Deserialize)]
struct RevokeForm {
    key: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
struct RevokeQuery {
    key: String,
}

fn see_home() -> Response {
    Redirect::to("/").into_response()
}

/// Keeps a message for the next page this session shows.
fn flash(session: &Session, message: impl Into<String>) -> Result<(), Error> {
    session.insert(FLASH_KEY, message.into())?;
    Ok(())
}

/// The pages show one user's data and carry CSRF tokens: no cache may keep them, and the back
/// button after sign-out asks the server again instead of showing the signed-in page.
fn private_page(status: StatusCode, html: String) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

async fn login(
    session: Session,
    CsrfToken(token): CsrfToken,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    let user = form.user.trim();
    let problem = if user.is_empty() {
        Some("Enter a name to sign in.")
    } else if user.chars().count() > MAX_USER_NAME_CHARS {
        Some("That name is too long: use at most 64 characters.")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Ok(private_page(
            StatusCode::BAD_REQUEST,
            pages::signed_out(&token, None, Some(problem), form.user.trim()),
        ));
    }
    // Sign-in starts clean. Loading first turns a stale cookie into a fresh session instead of
    // an update of nothing; then nothing the browser's previous session held (an anonymous
    // visitor's count, or another user's data on a shared browser) reaches the new user, the id
    // changes (what an attacker planted before sign-in is not the signed-in id), and the CSRF
    // secret is a new one, so forms rendered before sign-in stop working.
    session.user().await?;
    session.clear();
    session.rotate_id();
    session.set_user(Some(user));
    Csrf::default().renew(&session)?;
    flash(&session, format!("Signed in as {user}."))?;
    Ok(see_home())
}

async fn count_form(session: Session) -> Result<Response, Error> {
    let count = session.increment(COUNT_KEY, 1).await?;
    let times = if count == 1 { "time" } else { "times" };
    flash(
        &session,
        format!("Counted: you have clicked {count} {times}."),
    )?;
    Ok(see_home())
}

async fn logout(session: Session) -> Result<Response, Error> {
    session.destroy();
    // The message lives in a new, empty session: the signed-out page needs one anyway for the
    // sign-in form's CSRF token.
    flash(&session, "You signed out.")?;
    Ok(see_home())
}

async fn confirm_revoke(
    session: Session,
    CsrfToken(token): CsrfToken,
    Query(query): Query<RevokeQuery>,
) -> Result<Response, Error> {
    let Some(key) = StoreKey::from_hex(query.key.trim()) else {
        return Ok(error_pages::not_a_session());
    };
    let rows = session_rows(&session).await?;
    let Some(row) = rows.iter().find(|row| row.key == key) else {
        flash(&session, "That session had already ended.")?;
        return Ok(see_home());
    };
    Ok(private_page(
        StatusCode::OK,
        pages::confirm_revoke(&token, row, now()),
    ))
}

async fn revoke(session: Session, Form(form): Form<RevokeForm>) -> Result<Response, Error> {
    let Some(key) = StoreKey::from_hex(form.key.trim()) else {
        return Ok(error_pages::not_a_session());
    };
    if session.current_key().as_ref() == Some(&key) {
        if form.confirm.as_deref() != Some("yes") {
            // Signing this very device out ends the visit: ask first.
            let to = format!("/sessions/revoke?key={}", key.to_hex());
            return Ok(Redirect::to(&to).into_response());
        }
        // Revoking this very session is signing out: also clear the cookie.
        session.destroy();
        flash(&session, "You signed out of this device.")?;
        return Ok(see_home());
    }
    let rows = session_rows(&session).await?;
    // Rows of one kind of browser read alike: the message says which one by its sign-in time.
    let device = rows.iter().find(|row| row.key == key).map(|row| {
        format!(
            "{} (signed in {})",
            pages::device_name(&row.device),
            pages::day_and_time(now(), row.created_at)
        )
    });
    let message = match device {
        Some(device) if session.revoke(&key).await? => format!("Signed out {device}."),
        _ => "That session had already ended.".to_owned(),
    };
    flash(&session, message)?;
    Ok(see_home())
}

async fn revoke_others(session: Session) -> Result<Response, Error> {
    let ended = session.revoke_others().await?;
    let message = match ended {
        0 => "There was no other session to sign out.".to_owned(),
        1 => "Signed out 1 other session.".to_owned(),
        many => format!("Signed out {many} other sessions."),
    };
    flash(&session, message)?;
    Ok(see_home())
}

async fn api_csrf(CsrfToken(token): CsrfToken) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "token": token })),
    )
        .into_response()
}

async fn api_count(session: Session) -> Result<Json<Value>, Error> {
    let count = session.increment(COUNT_KEY, 1).await?;
    Ok(Json(json!({ "count": count })))
}

async fn api_session(session: Session) -> Result<Json<Value>, Error> {
    let mut data = session.data().await?;
    // The raw CSRF secret would undo the per-response masking of the tokens.
    data.remove(Csrf::default().session_key());
    data.remove(FLASH_KEY);
    Ok(Json(json!({
        "user": session.user().await?,
        "data": data,
    })))
}

async fn api_sessions(session: Session) -> Result<Json<Vec<SessionRow>>, Error> {
    Ok(Json(session_rows(&session).await?))
}

/// Shown to a browser whose session ended without it signing out: revoked from another
/// device, expired, or signed with a key the server no longer has.
const SESSION_ENDED: &str = "You are signed out: this browser's session was ended from another \
     device, or after a while without activity.";

/// `/?sessions_after=CURSOR`: the signed-in page's next page of sessions.
#[derive(Deserialize)]
struct HomeQuery {
    sessions_after: Option<String>,
}

async fn home(
    session: Session,
    CsrfToken(token): CsrfToken,
    headers: HeaderMap,
    Query(query): Query<HomeQuery>,
) -> Result<Response, Error> {
    let mut message: Option<String> = session.get(FLASH_KEY).await?;
    if message.is_some() {
        session.remove(FLASH_KEY);
    } else if presented_session_cookie(&headers) && session.is_new().await? {
        message = Some(SESSION_ENDED.to_owned());
    }
    let html = match session.user().await? {
        None => pages::signed_out(&token, message.as_deref(), None, ""),
        Some(user) => {
            let count: i64 = session.get(COUNT_KEY).await?.unwrap_or(0);
            let (rows, next) = session_page(&session, query.sessions_after.as_deref()).await?;
            let listing = pages::Listing {
                rows: &rows,
                next: next.as_deref(),
            };
            pages::signed_in(&token, message.as_deref(), &user, count, listing, now())
        }
    };
    Ok(private_page(StatusCode::OK, html))
}

/// Whether the request carried a session cookie: the demo's `id` (its cookie is not Secure, see
/// the binary) or the default `__Host-id`.
fn presented_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| {
            matches!(
                pair.split('=').next().map(str::trim),
                Some("id" | "__Host-id")
            )
        })
}

/// The README's examples (axum, actix-web, the stores), compiled as a doctest so it cannot drift from the API.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExample;

/// `docs/moving-from-actix-session.md`, compiled as a doctest so its examples cannot drift from the API.
#[doc = include_str!("../../../docs/moving-from-actix-session.md")]
#[cfg(doctest)]
pub struct MovingFromActixSessionGuide;
