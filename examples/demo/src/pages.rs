//! The demo's HTML, rendered on the server: every action is a plain form, so the pages work with
//! JavaScript off. Every form carries the session's CSRF token in `_csrf`.

use std::fmt::Write as _;

use sessile::{Device, Timestamp};

use crate::sessions::SessionRow;
use crate::MAX_USER_NAME_CHARS;

const TITLE: &str = "sessile demo";

/// The whole document around a page's content.
fn document(title: &str, bar: &str, content: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header class="bar"><div class="bar-inner">
<a class="brand" href="/"><img src="/favicon.svg" alt="" width="28" height="28">sessile demo</a>
{bar}
</div></header>
<main>
{content}
<p class="footer">A demo of sessile, HTTP sessions for Rust.</p>
</main>
</body>
</html>
"#,
        title = escape_html(title),
    )
}

fn csrf_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="_csrf" value="{}">"#,
        escape_html(token)
    )
}

fn flash_box(message: Option<&str>, problem: Option<&str>) -> String {
    let mut html = String::new();
    if let Some(message) = message {
        let _ = writeln!(
            html,
            r#"<p class="flash" role="status">{}</p>"#,
            escape_html(message)
        );
    }
    if let Some(problem) = problem {
        let _ = writeln!(
            html,
            r#"<p class="flash problem" role="alert">{}</p>"#,
            escape_html(problem)
        );
    }
    html
}

/// The sign-in page. `problem` explains why the last attempt was refused; `name` refills the
/// field.
pub(crate) fn signed_out(
    token: &str,
    message: Option<&str>,
    problem: Option<&str>,
    name: &str,
) -> String {
    let content = format!(
        r#"{flash}<section class="card">
<h1>Sign in</h1>
<p>This demo keeps a small session for you on its server: a counter, and the list of browsers where you are signed in. Use any name; there is no password.</p>
<form class="stack" method="post" action="/login">
{csrf}
<label for="user">Your name</label>
<input type="text" id="user" name="user" value="{name}" required maxlength="{MAX_USER_NAME_CHARS}" autocomplete="username" autofocus>
<div class="actions"><button class="button primary" type="submit">Sign in</button></div>
</form>
<p class="hint">Sign in from a second browser or a private window too, and each one shows up as a device you can sign out from here.</p>
</section>"#,
        flash = flash_box(message, problem),
        csrf = csrf_field(token),
        name = escape_html(name),
    );
    document(TITLE, "", &content)
}

/// One page of the user's sessions and the cursor of the next, if any.
pub(crate) struct Listing<'a> {
    pub(crate) rows: &'a [SessionRow],
    pub(crate) next: Option<&'a str>,
}

/// The signed-in page: the counter and where the user is signed in, one page of sessions at a
/// time.
pub(crate) fn signed_in(
    token: &str,
    message: Option<&str>,
    user: &str,
    count: i64,
    listing: Listing<'_>,
    now: Timestamp,
) -> String {
    let csrf = csrf_field(token);
    let rows = listing.rows;
    let mut list = String::new();
    for row in rows {
        list.push_str(&session_item(&csrf, row, now));
    }
    let more = match listing.next {
        Some(next) => format!(
            r#"<p><a class="button" href="/?sessions_after={}">More sessions</a></p>"#,
            query_escape(next)
        ),
        None => String::new(),
    };
    // A next page holds sessions other than this one too.
    let others = rows.iter().filter(|row| !row.current).count() + usize::from(!more.is_empty());
    let sign_out_others = if others == 0 {
        r#"<p class="hint">This is the only browser where you are signed in.</p>"#.to_owned()
    } else {
        format!(
            r#"<form class="actions" method="post" action="/sessions/revoke-others">{csrf}<button class="button danger" type="submit">Sign out everywhere else</button></form>"#
        )
    };
    let times = if count == 1 { "click" } else { "clicks" };
    let bar = format!(
        r#"<form method="post" action="/logout">{csrf}<button class="button" type="submit">Sign out</button></form>"#
    );
    let content = format!(
        r#"{flash}<h1>Hello, {user}</h1>
<section class="card" aria-labelledby="counter-heading">
<h2 id="counter-heading">Counter</h2>
<div class="counter">
<p class="count" id="count">{count}<small>{times} in this session</small></p>
<form method="post" action="/count">{csrf}<button class="button primary" type="submit">Add one</button></form>
</div>
<p class="hint">The count is saved on the server, in this browser's session. Your other devices keep their own.</p>
</section>
<section class="card" aria-labelledby="devices-heading">
<h2 id="devices-heading">Where you're signed in</h2>
<p class="hint">Every browser you sign in with has its own session. Sign out the ones you don't recognize.</p>
<ul class="sessions">
{list}</ul>
{more}{sign_out_others}
</section>"#,
        flash = flash_box(message, None),
        user = escape_html(user),
    );
    document(&format!("{user} · {TITLE}"), &bar, &content)
}

fn session_item(csrf: &str, row: &SessionRow, now: Timestamp) -> String {
    let key = row.key.to_hex();
    let (class, badge, action) = if row.current {
        (
            "session current",
            r#" <span class="badge">This device</span>"#,
            // Signing this very browser out is confirmed on a page of its own.
            format!(
                r#"<form method="get" action="/sessions/revoke"><input type="hidden" name="key" value="{key}"><button class="button" type="submit">Sign out…</button></form>"#
            ),
        )
    } else {
        (
            "session",
            "",
            format!(
                r#"<form method="post" action="/sessions/revoke">{csrf}<input type="hidden" name="key" value="{key}"><button class="button danger" type="submit">Sign out</button></form>"#
            ),
        )
    };
    format!(
        r#"<li class="{class}" data-key="{key}">
<div class="session-info">
<p class="device">{device}{badge}</p>
{details}</div>
{action}
</li>
"#,
        device = escape_html(&device_name(&row.device)),
        details = session_details(row, now),
    )
}

fn session_details(row: &SessionRow, now: Timestamp) -> String {
    let mut html = String::new();
    if let Some(ip) = &row.device.ip {
        let _ = writeln!(
            html,
            r#"<p class="meta">IP address {}</p>"#,
            escape_html(ip)
        );
    }
    let _ = writeln!(
        html,
        r#"<p class="meta">Signed in {}</p>"#,
        day_and_time(now, row.created_at)
    );
    let _ = writeln!(
        html,
        r#"<p class="meta">Last active <span title="{}">{}</span></p>"#,
        format_time(row.last_seen),
        ago(now, row.last_seen)
    );
    html
}

/// The page that asks before signing a session out.
pub(crate) fn confirm_revoke(token: &str, row: &SessionRow, now: Timestamp) -> String {
    let (heading, text, button) = if row.current {
        (
            "Sign out of this device?",
            "You are using this browser right now. Signing it out ends your visit here; your other devices stay signed in.",
            "Yes, sign out this device",
        )
    } else {
        (
            "Sign out this device?",
            "That browser will be asked to sign in again the next time it opens the demo.",
            "Yes, sign it out",
        )
    };
    let content = format!(
        r#"<section class="card">
<h1>{heading}</h1>
<p>{text}</p>
<ul class="sessions"><li class="session{current}"><div class="session-info">
<p class="device">{device}</p>
{details}</div></li></ul>
<form class="actions" method="post" action="/sessions/revoke">
{csrf}<input type="hidden" name="key" value="{key}"><input type="hidden" name="confirm" value="yes">
<button class="button danger primary" type="submit">{button}</button>
<a href="/">Cancel, keep it signed in</a>
</form>
</section>"#,
        current = if row.current { " current" } else { "" },
        device = escape_html(&device_name(&row.device)),
        details = session_details(row, now),
        csrf = csrf_field(token),
        key = row.key.to_hex(),
    );
    document(&format!("Sign out? · {TITLE}"), "", &content)
}

/// A page with a heading, one paragraph and a way back: errors and refusals.
pub(crate) fn message(heading: &str, text: &str) -> String {
    let content = format!(
        r#"<section class="card">
<h1>{}</h1>
<p>{}</p>
<p><a class="button" href="/">Back to the demo</a></p>
</section>"#,
        escape_html(heading),
        escape_html(text),
    );
    document(&format!("{heading} · {TITLE}"), "", &content)
}

/// "Firefox on Linux", or a plain phrase when the browser did not say.
pub(crate) fn device_name(device: &Device) -> String {
    device
        .user_agent
        .clone()
        .unwrap_or_else(|| "An unknown browser".to_owned())
}

/// "today at 10:04:31 UTC", or the full date and time on another day.
pub(crate) fn day_and_time(now: Timestamp, then: Timestamp) -> String {
    let (now_text, then_text) = (format_time(now), format_time(then));
    match (now_text.split_once(' '), then_text.split_once(' ')) {
        (Some((today, _)), Some((day, time))) if today == day => format!("today at {time}"),
        _ => then_text,
    }
}

/// How long ago `then` was, in words.
fn ago(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.as_millis().saturating_sub(then.as_millis()) / 1000;
    match seconds {
        ..=59 => "just now".to_owned(),
        60..=119 => "a minute ago".to_owned(),
        120..=3599 => format!("{} minutes ago", seconds / 60),
        3600..=7199 => "an hour ago".to_owned(),
        7200..=86_399 => format!("{} hours ago", seconds / 3600),
        _ => format_time(then),
    }
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
    // The core's `Display` is RFC 3339 (`2024-02-29T12:34:56.000Z`): keep its calendar, drop the
    // milliseconds a person does not need.
    let rfc3339 = time.to_string();
    match rfc3339.split_once('T') {
        Some((date, clock)) => format!("{date} {} UTC", clock.get(..8).unwrap_or(clock)),
        None => rfc3339,
    }
}

/// `text` as a URL query value: everything but unreserved characters percent-encoded (a cursor
/// is digits, a dot and hex in sessile's own stores, but a store may use any text).
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_said_so() {
        let noon = Timestamp::from_millis(1_709_208_000_000); // 2024-02-29 12:00:00 UTC
        let morning = Timestamp::from_millis(1_709_208_000_000 - 3 * 3_600_000);
        let yesterday = Timestamp::from_millis(1_709_208_000_000 - 13 * 3_600_000);
        assert_eq!(day_and_time(noon, morning), "today at 09:00:00 UTC");
        assert_eq!(day_and_time(noon, yesterday), "2024-02-28 23:00:00 UTC");
    }

    #[test]
    fn ago_speaks_in_words() {
        let now = Timestamp::from_millis(10_000_000_000);
        let before = |seconds: i64| Timestamp::from_millis(10_000_000_000 - seconds * 1000);
        assert_eq!(ago(now, before(0)), "just now");
        assert_eq!(ago(now, before(59)), "just now");
        assert_eq!(ago(now, before(60)), "a minute ago");
        assert_eq!(ago(now, before(150)), "2 minutes ago");
        assert_eq!(ago(now, before(3600)), "an hour ago");
        assert_eq!(ago(now, before(3 * 3600)), "3 hours ago");
        assert_eq!(
            ago(now, before(2 * 86_400)),
            format_time(before(2 * 86_400))
        );
        // A clock that went backwards is "just now", not a negative duration.
        assert_eq!(ago(before(10), now), "just now");
    }
}
