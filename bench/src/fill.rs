//! Filling a store with live sessions for the scale benchmark (`bench/scale.sh`): each session
//! is created with the store's own [`Store::create`] (so every row, hash and index entry is the
//! one a request would leave), many at a time, without HTTP.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;
use sessile::{
    Clock, Config, CreateOutcome, Record, SessionId, Store, StoreError, SystemClock, Timestamp,
};

/// How many creates are in flight at once: enough to keep a server store's connections busy.
const IN_FLIGHT: usize = 256;

/// What a fill did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filled {
    /// Sessions created.
    pub created: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// The record `/count` leaves on a new session at `now` under `config`: `{"n": 1}`, no user,
/// no device (the harness's session maker sends no User-Agent).
///
/// ```
/// let record = sessile_bench::fill::count_record(sessile::Timestamp::from_millis(0), &sessile::Config::default());
/// assert_eq!(record.data["n"], 1);
/// ```
pub fn count_record(now: Timestamp, config: &Config) -> Record {
    let mut record = Record::new(
        now,
        now + config.idle_timeout(),
        now + config.absolute_lifetime(),
    );
    record.data.insert("n".to_owned(), json!(1));
    record
}

/// Creates `count` live sessions in `store` as [`count_record`] describes, each under a fresh
/// id, `IN_FLIGHT` at a time. An id collision (never expected from 256 random bits) is an
/// error rather than a session fewer.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = sessile::MemoryStore::new();
/// let filled = sessile_bench::fill::fill(&store, 1_000, &sessile::Config::default()).await?;
/// assert_eq!((filled.created, store.len()), (1_000, 1_000));
/// # Ok::<(), sessile::StoreError>(())
/// # }).unwrap();
/// ```
pub async fn fill(store: &dyn Store, count: u64, config: &Config) -> Result<Filled, StoreError> {
    let started = Instant::now();
    let record = count_record(SystemClock.now(), config);
    let record = &record;
    stream::iter(0..count)
        .map(|_| async move {
            let key = SessionId::generate().store_key();
            match store.create(&key, record).await? {
                CreateOutcome::Created => Ok(()),
                _ => Err(StoreError::Backend(
                    "a fresh random id collided while filling".into(),
                )),
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    Ok(Filled {
        created: count,
        elapsed: started.elapsed(),
    })
}

/// This process's resident set and its peak (`VmRSS`, `VmHWM` in `/proc/self/status`), in
/// bytes; `None` where there is no such file.
pub fn resident_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
