//! `gc`: delete expired sessions in batches, with progress on a terminal and plain lines
//! elsewhere.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sessile::{Clock, StoreError, SystemClock, Timestamp};

use crate::cli::GcArgs;
use crate::commands::{scan_all, Report};
use crate::error::CliError;
use crate::open::Opened;
use crate::progress::{Progress, Words};

/// The sessions expired at `now`, or `None` when the layout cannot be scanned. On a terminal a
/// spinner shows the count going up (a scan of millions of sessions takes a while).
async fn count_expired(opened: &Opened, now: Timestamp) -> Result<Option<u64>, CliError> {
    let spinner = std::io::stderr().is_terminal().then(|| {
        let spinner = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} counting expired sessions: {human_pos}")
                .expect("the template is valid"),
        );
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    });
    let mut expired = 0u64;
    let scanned = scan_all(opened, |session| {
        if session.summary.expires_at <= now {
            expired += 1;
            if let Some(spinner) = &spinner {
                spinner.set_position(expired);
            }
        }
    })
    .await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    match scanned {
        Ok(()) => Ok(Some(expired)),
        Err(error) if error.kind == crate::error::Kind::Unsupported => Ok(None),
        Err(error) => Err(error),
    }
}

const GC_WORDS: Words = Words {
    command: "gc",
    doing: "deleting expired sessions",
    done: "deleted",
    what: "expired sessions",
};

pub async fn gc(opened: &Opened, args: &GcArgs) -> Result<Report, CliError> {
    // One `now` for the whole run: exactly the sessions expired when it started go, whatever
    // expires while it runs.
    let now = SystemClock.now();
    let started = Instant::now();
    let expired = count_expired(opened, now).await?;
    if args.dry_run {
        let expired = expired.ok_or_else(|| {
            CliError::from_store(
                &opened.name,
                "counting expired sessions",
                StoreError::Unsupported("paging through every session"),
            )
        })?;
        return Ok(Report {
            json: json!({ "dry_run": true, "expired": expired }),
            text: format!("{expired} expired sessions would be deleted\n"),
        });
    }
    let mut progress = Progress::new(expired, GC_WORDS);
    let (mut deleted, mut batches) = (0u64, 0u64);
    loop {
        let batch = opened
            .store
            .delete_expired(now, args.batch)
            .await
            .map_err(|error| {
                CliError::from_store(
                    &opened.name,
                    &format!("deleting expired sessions (after {deleted})"),
                    error,
                )
            })?;
        deleted += batch;
        batches += 1;
        progress.done(deleted);
        if batch < u64::from(args.batch) {
            break;
        }
        if args.pause > 0 {
            tokio::time::sleep(Duration::from_millis(args.pause)).await;
        }
    }
    progress.finish(deleted);
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        json: json!({
            "dry_run": false,
            "expired": expired,
            "deleted": deleted,
            "batches": batches,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        }),
        text: format!("deleted {deleted} expired sessions in {batches} batches ({seconds:.1} s)\n"),
    })
}
