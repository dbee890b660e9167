//! sessile's demo app: sign in with any name, count clicks, see and revoke your sessions.
//!
//! [`app`] builds the whole router over any [`SessionManager`], so the binary runs it on SQLite
//! and the tests run the same router over SQLite or memory.
//!
//! HTTP contract (used by the tests, the smoke script and the benchmarks):
//!
//! | request | effect |
//! | --- | --- |
//! | `GET /` | HTML: a sign-in form, or the counter and "your sessions" |
//! | `POST /login` (form `user`) | signs in on a fresh id, 303 to `/` |
//! | `POST /count` | adds one to the counter, 303 to `/` |
//! | `POST /sessions/revoke` (form `key`) | ends one of your sessions, 303 to `/` |
//! | `POST /sessions/revoke-others` | ends all your other sessions, 303 to `/` |
//! | `POST /logout` | ends this session, 303 to `/` |
//! | `POST /api/count` | `{"count": N}` after an atomic increment |
//! | `GET /api/session` | `{"user": ..., "data": {...}}` |
//! | `GET /api/sessions` | your sessions: `key`, `device`, `created_at`, `last_seen`, `expires_at`, `current` |
//!
//! Forms rely on the session cookie's `SameSite=Lax` against cross-site posts.
//!
//! ```
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let router: axum::Router = sessile_demo::app(manager);
//! # let _ = router;
//! ```

#![warn(missing_docs)]

use std::fmt::Write as _;

use axum::extract::Form;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sessile::{Device, SessionManager, SessionSummary, StoreKey, Timestamp};
use sessile_axum::{Error, Session, SessionLayer};

/// The session key holding the counter.
pub const COUNT_KEY: &str = "count";
/// The longest user name accepted, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;

/// The demo's router with its session layer.
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/count", post(count_form))
        .route("/logout", post(logout))
        .route("/sessions/revoke", post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
        .route("/api/count", post(api_count))
        .route("/api/session", get(api_session))
        .route("/api/sessions", get(api_sessions))
        .layer(SessionLayer::new(manager))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

#[derive(Deserialize)]
struct RevokeForm {
    key: String,
}

/// One row of `GET /api/sessions`.
#[derive(Serialize)]
struct SessionRow {
    key: StoreKey,
    device: Device,
    created_at: Timestamp,
    last_seen: Timestamp,
    expires_at: Timestamp,
    current: bool,
}

impl SessionRow {
    fn new(summary: SessionSummary, current: Option<&StoreKey>) -> Self {
        Self {
            current: current == Some(&summary.key),
            key: summary.key,
            device: summary.device,
            created_at: summary.created_at,
            last_seen: summary.last_seen,
            expires_at: summary.expires_at,
        }
    }
}

async fn session_rows(session: &Session) -> Result<Vec<SessionRow>, Error> {
    let current = session.current_key();
    Ok(session
        .user_sessions()
        .await?
        .into_iter()
        .map(|summary| SessionRow::new(summary, current.as_ref()))
        .collect())
}

fn see_home() -> Redirect {
    Redirect::to("/")
}

fn bad_request(message: &str) -> Response {
    let body = format!(
        "<p>{}</p><p><a href=\"/\">Back</a></p>",
        escape_html(message)
    );
    (StatusCode::BAD_REQUEST, Html(page("sessile demo", &body))).into_response()
}

async fn login(session: Session, Form(form): Form<LoginForm>) -> Result<Response, Error> {
    let user = form.user.trim();
    if user.is_empty() {
        return Ok(bad_request("Enter a name to sign in."));
    }
    if user.chars().count() > MAX_USER_NAME_CHARS {
        return Ok(bad_request("That name is too long."));
    }
    // Loading first turns a stale cookie into a fresh session instead of an update of nothing.
    session.user().await?;
    session.rotate_id();
    session.set_user(Some(user));
    Ok(see_home().into_response())
}

async fn count_form(session: Session) -> Result<Redirect, Error> {
    session.increment(COUNT_KEY, 1).await?;
    Ok(see_home())
}

async fn logout(session: Session) -> Redirect {
    session.destroy();
    see_home()
}

async fn revoke(session: Session, Form(form): Form<RevokeForm>) -> Result<Response, Error> {
    let Some(key) = StoreKey::from_hex(form.key.trim()) else {
        return Ok(bad_request("That is not a session key."));
    };
    if session.current_key().as_ref() == Some(&key) {
        // Revoking this very session is signing out: also clear the cookie.
        session.destroy();
    } else {
        session.revoke(&key).await?;
    }
    Ok(see_home().into_response())
}

async fn revoke_others(session: Session) -> Result<Redirect, Error> {
    session.revoke_others().await?;
    Ok(see_home())
}

async fn api_count(session: Session) -> Result<Json<Value>, Error> {
    let count = session.increment(COUNT_KEY, 1).await?;
    Ok(Json(json!({ "count": count })))
}

async fn api_session(session: Session) -> Result<Json<Value>, Error> {
    Ok(Json(json!({
        "user": session.user().await?,
        "data": session.data().await?,
    })))
}

async fn api_sessions(session: Session) -> Result<Json<Vec<SessionRow>>, Error> {
    Ok(Json(session_rows(&session).await?))
}

async fn home(session: Session) -> Result<Response, Error> {
    let body = match session.user().await? {
        None => signed_out_body(),
        Some(user) => {
            let count: i64 = session.get(COUNT_KEY).await?.unwrap_or(0);
            let rows = session_rows(&session).await?;
            signed_in_body(&user, count, &rows)
        }
    };
    // The page shows one user's data: no cache may keep it.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(page("sessile demo", &body)),
    )
        .into_response())
}

fn signed_out_body() -> String {
    format!(
        r#"<h1>sessile demo</h1>
<p>Sign in with any name. Your session lives in SQLite; its id is hashed there and signed in your cookie.</p>
<form method="post" action="/login">
  <label>Name <input name="user" required maxlength="{MAX_USER_NAME_CHARS}" autofocus></label>
  <button type="submit">Sign in</button>
</form>"#
    )
}

fn signed_in_body(user: &str, count: i64, rows: &[SessionRow]) -> String {
    let mut table = String::new();
    for row in rows {
        let device = device_label(&row.device);
        let marker = if row.current {
            " <em>(this one)</em>"
        } else {
            ""
        };
        let _ = write!(
            table,
            r#"<tr><td>{device}{marker}</td><td>{created}</td><td>{seen}</td><td>{expires}</td>
<td><form method="post" action="/sessions/revoke"><input type="hidden" name="key" value="{key}"><button type="submit">revoke</button></form></td></tr>
"#,
            device = escape_html(&device),
            created = format_time(row.created_at),
            seen = format_time(row.last_seen),
            expires = format_time(row.expires_at),
            key = row.key.to_hex(),
        );
    }
    format!(
        r#"<h1>Hello, {user}</h1>
<section>
  <p class="count">Count: <strong>{count}</strong></p>
  <form method="post" action="/count"><button type="submit">+1</button></form>
</section>
<section>
  <h2>Your sessions</h2>
  <table>
    <thead><tr><th>Device</th><th>Created</th><th>Last seen</th><th>Expires</th><th></th></tr></thead>
    <tbody>
{table}    </tbody>
  </table>
  <form method="post" action="/sessions/revoke-others"><button type="submit">Sign out everywhere else</button></form>
</section>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>"#,
        user = escape_html(user),
    )
}

fn device_label(device: &Device) -> String {
    let agent = device.user_agent.as_deref().unwrap_or("unknown device");
    match &device.ip {
        Some(ip) => format!("{agent} ({ip})"),
        None => agent.to_owned(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
  table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; }}
  th, td {{ text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; font-size: .9rem; }}
  form {{ display: inline; }}
  section {{ margin: 1.5rem 0; }}
  .count {{ font-size: 1.4rem; }}
  button {{ cursor: pointer; }}
</style>
</head>
<body>
{body}
</body>
</html>
"#,
        title = escape_html(title),
    )
}

/// Escapes text for HTML element content and quoted attribute values.
///
/// ```
/// assert_eq!(sessile_demo::escape_html(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS UTC`.
///
/// ```
/// use sessile::Timestamp;
/// assert_eq!(sessile_demo::format_time(Timestamp::from_millis(0)), "1970-01-01 00:00:00 UTC");
/// assert_eq!(
///     sessile_demo::format_time(Timestamp::from_millis(1_709_210_096_000)),
///     "2024-02-29 12:34:56 UTC"
/// );
/// ```
pub fn format_time(time: Timestamp) -> String {
    let seconds = time.as_millis().div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Year, month, day of the proleptic Gregorian calendar for days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The README's examples (axum, actix-web, the stores), compiled as a doctest so it cannot drift from the API.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExample;

/// `docs/moving-from-actix-session.md`, compiled as a doctest so its examples cannot drift from the API.
#[doc = include_str!("../../../docs/moving-from-actix-session.md")]
#[cfg(doctest)]
pub struct MovingFromActixSessionGuide;
