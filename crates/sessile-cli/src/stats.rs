//! `stats`: what the store holds, from one scan.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use sessile::{Clock, SystemClock};

use crate::commands::{scan_all, Report};
use crate::error::CliError;
use crate::open::Opened;
use crate::output;

/// Upper bounds of the age and idle histograms' buckets; the last bucket is everything older.
const BUCKETS: [(&str, u64); 7] = [
    ("1m", 60),
    ("10m", 600),
    ("1h", 3600),
    ("6h", 6 * 3600),
    ("1d", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
}

impl Histogram {
    fn add(&mut self, duration: Duration) {
        let slot = BUCKETS
            .iter()
            .position(|(_, bound)| duration.as_secs() < *bound)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
    }

    fn labels() -> impl Iterator<Item = String> {
        BUCKETS
            .iter()
            .map(|(label, _)| format!("< {label}"))
            .chain(std::iter::once(format!(
                ">= {}",
                BUCKETS[BUCKETS.len() - 1].0
            )))
    }

    fn json(&self) -> serde_json::Value {
        Self::labels()
            .zip(self.counts)
            .map(|(bucket, sessions)| json!({ "bucket": bucket, "sessions": sessions }))
            .collect()
    }
}

pub async fn stats(opened: &Opened, top: usize) -> Result<Report, CliError> {
    let now = SystemClock.now();
    let (mut live, mut expired, mut anonymous) = (0u64, 0u64, 0u64);
    let mut per_user: HashMap<String, u64> = HashMap::new();
    let (mut age, mut idle) = (Histogram::default(), Histogram::default());
    scan_all(opened, |session| {
        if session.summary.expires_at <= now {
            expired += 1;
            return;
        }
        live += 1;
        match session.user {
            Some(user) => *per_user.entry(user).or_default() += 1,
            None => anonymous += 1,
        }
        age.add(output::between(session.summary.created_at, now));
        idle.add(output::between(session.summary.last_seen, now));
    })
    .await?;
    let users = per_user.len();
    let mut ranked: Vec<(String, u64)> = per_user.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(top);

    let json = json!({
        "live": live,
        "expired": expired,
        "anonymous": anonymous,
        "users": users,
        "top_users": ranked.iter().map(|(user, sessions)| json!({ "user": user, "sessions": sessions })).collect::<Vec<_>>(),
        "age": age.json(),
        "idle": idle.json(),
    });
    let mut text = format!(
        "live     {live}  ({} signed in, {anonymous} anonymous)\n\
         expired  {expired}  (not deleted yet: `sessile gc`)\n\
         users    {users}\n",
        live - anonymous
    );
    if !ranked.is_empty() {
        text.push_str(&format!("\ntop {} users by live sessions\n", ranked.len()));
        let rows: Vec<Vec<String>> = ranked
            .iter()
            .map(|(user, sessions)| vec![sessions.to_string(), user.clone()])
            .collect();
        text.push_str(&output::table(&["SESSIONS", "USER"], &rows));
    }
    let rows: Vec<Vec<String>> = Histogram::labels()
        .zip(age.counts.iter().zip(idle.counts))
        .map(|(bucket, (age, idle))| vec![bucket, age.to_string(), idle.to_string()])
        .collect();
    text.push_str("\nlive sessions by age (since created) and idle time (since last seen)\n");
    text.push_str(&output::table(&["", "AGE", "IDLE"], &rows));
    Ok(Report { json, text })
}
