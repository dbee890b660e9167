//! `import-node`: the batch form of the takeover (`sessile::takeover`), for the Node sessions
//! nobody comes back to before the Node store is retired.

use std::time::{Duration, Instant};

use serde_json::json;
use sessile::takeover::{Takeover, TakeoverStore};
use sessile::{ChangeSet, Clock, Config, SessionId, SystemClock};

use crate::cli::{ImportArgs, Layout, StoreArgs};
use crate::commands::{scan_all, Report};
use crate::error::{CliError, Kind};
use crate::open::{self, Opened};
use crate::progress::{Progress, Words};

const WORDS: Words = Words {
    command: "import-node",
    doing: "moving Node sessions",
    done: "moved",
    what: "Node sessions",
};

/// The target's arguments: sessile's own layout at `--to`, with the source's timeout.
fn target_args(source: &StoreArgs, args: &ImportArgs) -> StoreArgs {
    StoreArgs {
        urls: args.to.clone(),
        layout: Layout::Sessile,
        cluster: false,
        table: args.to_table.clone(),
        schema: args.to_schema.clone(),
        prefix: args.to_prefix.clone(),
        // The target's TLS settings travel in its URL (sslrootcert, ssl-ca, rediss://).
        tls_ca: None,
        timeout: source.timeout,
    }
}

fn takeover(args: &ImportArgs) -> Result<Takeover, CliError> {
    let path = &args.secret_file;
    let secret = std::fs::read(path).map_err(|error| {
        CliError::new(
            Kind::Usage,
            format!("cannot read --secret-file {}: {error}", path.display()),
        )
    })?;
    Takeover::new(&secret).map_err(|error| {
        CliError::new(
            Kind::Usage,
            format!("the takeover secret in {}: {error}", path.display()),
        )
        .check("that the file holds the app's takeover secret, at least 32 bytes")
    })
}

/// The legacy ids of the sessions live at `now`, and how many expired ones were left for `gc`.
async fn live_node_ids(
    source: &Opened,
    now: sessile::Timestamp,
) -> Result<(Vec<SessionId>, u64), CliError> {
    let (mut ids, mut expired) = (Vec::new(), 0u64);
    scan_all(source, |session| {
        let id = session.summary.key.plain().and_then(SessionId::foreign);
        match id {
            Some(id) if session.summary.expires_at > now => ids.push(id),
            _ => expired += 1,
        }
    })
    .await?;
    Ok((ids, expired))
}

pub async fn import_node(store: &StoreArgs, args: &ImportArgs) -> Result<Report, CliError> {
    if store.layout == Layout::Sessile {
        return Err(CliError::new(
            Kind::Usage,
            "import-node moves sessions out of a Node layout: name it with --layout",
        )
        .at(&open::store_name(store)));
    }
    let takeover = takeover(args)?;
    let lifetime = Duration::from_secs(args.absolute_lifetime);
    let config = Config::builder()
        .absolute_lifetime(lifetime)
        .build()
        .map_err(|error| CliError::new(Kind::Usage, format!("--absolute-lifetime: {error}")))?;
    let source = open::open(store, false).await?;
    let target = open::open(&target_args(store, args), false).await?;
    // One `now` for the whole run: the sessions live when it started move.
    let now = SystemClock.now();
    let started = Instant::now();
    let (ids, expired) = live_node_ids(&source, now).await?;
    let (source_name, target_name) = (source.name, target.name);
    let moving = TakeoverStore::new(takeover, target.store, source.store, config);
    let mut progress = Progress::new(Some(ids.len() as u64), WORDS);
    let (mut moved, mut gone) = (0u64, 0u64);
    let unchanged = ChangeSet::default();
    for id in &ids {
        let outcome = moving
            .take_over(id, &unchanged, now)
            .await
            .map_err(|error| {
                CliError::from_store(
                    &format!("{source_name} -> {target_name}"),
                    &format!("moving a Node session (after {moved} moved)"),
                    error,
                )
            })?;
        match outcome {
            Some(_) => moved += 1,
            // Ended (expired, signed out) since the scan.
            None => gone += 1,
        }
        progress.done(moved + gone);
    }
    progress.finish(moved + gone);
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        json: json!({
            "from": source_name,
            "to": target_name,
            "moved": moved,
            "gone": gone,
            "expired": expired,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        }),
        text: format!(
            "moved {moved} Node sessions from {source_name} to {target_name} in {seconds:.1} s \
             ({gone} ended meanwhile, {expired} expired left for `sessile gc`)\n"
        ),
    })
}
