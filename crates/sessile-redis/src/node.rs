//! The Node session stores' Redis layouts as a sessile [`Store`]: the keys koa-redis and
//! connect-redis write, so a Rust app and a Koa or Express app serve the same sessions from one
//! Redis.
//!
//! | Node stack | Redis key | value | TTL the Node side sets |
//! |---|---|---|---|
//! | koa-session (store mode) + koa-redis | the id, verbatim (koa-session's `prefix` is inside it) | [`NodeShape::KoaSession`] JSON (`_expire`, `_maxAge`) | `SETEX ceil((maxAge + 10 s) / 1 s)` |
//! | koa-generic-session + koa-redis | `koa:sess:<sid>` | [`NodeShape::GenericSession`] JSON (`cookie` object) | `SETEX ceil(cookie.maxAge / 1 s)` |
//! | koa-session-minimal + koa-redis | `koa:sess:<sid>` (`<cookie name>:<sid>`) | [`NodeShape::SessionMinimal`] JSON (the data alone) | `SETEX ceil(maxAge / 1 s)` (one day for a browser-session cookie) |
//! | express-session + connect-redis 9 | `sess:<sid>` | [`NodeShape::Express`] JSON (`cookie` object) | `SET … EX ceil((cookie.expires − now) / 1 s)`, else connect-redis's `ttl` (86 400 s) |
//!
//! [`NodeRedisStore`] writes exactly these keys and values. Its keys expire (`SET … PXAT`) at
//! the session's deadline to the millisecond, 10 s later for koa-session: the deadline the
//! Node side's TTL stands for (Node computes it relative to its clock and rounds it up to whole
//! seconds, so keys Node writes live up to a second longer). It reads the session's deadline
//! where the Node side does: koa-session checks `_expire` itself (the key outlives it by 10 s),
//! the other three trust the key's expiry alone (`PEXPIRETIME`; express-session's
//! `cookie.expires` in the document goes stale when connect-redis's `touch` extends the TTL, so
//! it is not used on read).
//!
//! # Which sessile guarantees hold on these layouts
//!
//! Hold, between Rust writers (any number of Rust processes):
//! - **no lost updates**: every `update`, `increment` and `rotate` reads the document, applies
//!   the change in Rust ([`ChangeSet::apply_to`]) and writes it back with a Lua compare-and-set
//!   that succeeds only if the key still holds exactly the document read, retrying on conflict
//!   (within one process, writes to one session also take turns, so they do not keep failing
//!   each other's compare-and-set); concurrent Rust changes of different keys all persist and
//!   `increment` is exact, and a Node write that lands between the read and the write makes
//!   the Rust change start over on the Node document rather than overwrite it;
//! - **update-only, no resurrection**: a key that is gone (logged out on either side, expired)
//!   makes `update`, `increment` and `rotate` report `Gone` and write nothing;
//! - **expiry on read**: a record past its deadline (`_expire`, or the TTL) is never returned;
//! - **atomic rotation**: one script writes the new key and deletes the old one.
//!
//! Cannot hold:
//! - the Node packages write whole documents (last writer wins): a Node request that loaded the
//!   session before a concurrent Rust change and saves afterwards overwrites that change;
//! - no per-user index: [`Store::list_user_sessions`] and [`Store::delete_user_sessions`] return
//!   [`StoreError::Unsupported`];
//! - no absolute lifetime: the Node documents have no creation time, so a session lives as long
//!   as it is used ([`Record::absolute_deadline`] of a loaded record is unbounded);
//! - a key without a TTL (a Node app that passes none) never expires, as on the Node side;
//! - [`Store::delete_expired`] deletes nothing (returns 0): Redis drops keys at their TTL.
//!
//! # Redis deployment
//!
//! One Redis server, version 7.0 or later (`PEXPIRETIME`), standalone or a primary with
//! replicas behind one address. The Node ids carry no hash tags, so in a Redis Cluster a
//! session's old and new keys would live in different slots and the rotation script could not
//! run; use these layouts on a standalone server (or on a Cluster only if every key of the app
//! hashes to one slot).
//!
//! Deadlines are absolute times, compared with the engine's clock as Node compares them with
//! `Date.now()`: both sides need clocks that agree with each other (and with Redis's, which
//! expires the keys).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use sessile::SessionManager;
//! use sessile_node::ids::KoaIds;
//! use sessile_node::keygrip::Keygrip;
//! use sessile_node::record_json::{NodeJson, NodeShape};
//! use sessile_redis::node::NodeRedisStore;
//!
//! // The Koa app: koa-session({ store: koaRedis(), maxAge: 3600000 }), app.keys = ['k1'].
//! let max_age = Duration::from_secs(3600);
//! let store = NodeRedisStore::builder(NodeJson::new(NodeShape::KoaSession, max_age))
//!     .connect("redis://127.0.0.1:6379")
//!     .await?;
//! let ids = KoaIds::koa_session(Keygrip::new(["k1"])?);
//! let config = sessile_node::config(max_age).build()?;
//! let manager = SessionManager::new(store, ids, config);
//! # let _ = manager;
//! # Ok(())
//! # }
//! ```

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{Cmd, Script, Value};
use async_trait::async_trait;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, Store, StoreError, StoreKey,
    Timestamp, Touch, UpdateOutcome,
};

use sessile_node::layout::{self, Modified};
use sessile_node::record_json::{NodeJson, NodeShape};

use crate::connect;
use crate::error::{bounded_store, store_error, Error};
use crate::options::{shared_options, SharedOptions};

/// How many locks serialise this process's writes to one session (by a hash of its key).
const WRITE_LOCK_STRIPES: usize = 64;

/// koa-session keeps the store's copy 10 s longer than the session ("store expires after
/// cookie").
const KOA_SESSION_STORE_GRACE_MS: i64 = 10_000;

/// Writes `ARGV[2]` under `KEYS[1]` (expiring at `PXAT ARGV[3]`, or never when empty) only if
/// the key still holds exactly `ARGV[1]`. 1 written, 0 the key is gone, 2 it changed.
const COMPARE_AND_SET: &str = include_str!("lua/node/compare_and_set.lua");

/// Moves the document `ARGV[1]` at `KEYS[1]` to `KEYS[2]` as `ARGV[2]` (TTL as above) if the old
/// key still holds exactly `ARGV[1]` and the new one is free. 1 moved, 0 the old key is gone,
/// 2 it changed, 3 the new key is taken.
const COMPARE_AND_MOVE: &str = include_str!("lua/node/compare_and_move.lua");

/// Configures and connects a [`NodeRedisStore`], with the option names every sessile store
/// uses: `key_prefix` (the package's default, see [`NodeRedisStore::builder`]; any text, braces
/// included, since the Node packages accept any), `acquire_timeout` and `statement_timeout`
/// (default [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT) each; the statement timeout bounds each
/// store call as a whole, compare-and-set retries included).
///
/// ```no_run
/// # async fn example() -> Result<(), sessile_redis::Error> {
/// use std::time::Duration;
/// use sessile_node::record_json::{NodeJson, NodeShape};
/// use sessile_redis::node::NodeRedisStore;
///
/// // express-session + connect-redis({ client, prefix: 'shop:' }), cookie.maxAge 30 minutes.
/// let max_age = Duration::from_secs(1800);
/// let store = NodeRedisStore::builder(NodeJson::new(NodeShape::Express, max_age))
///     .key_prefix("shop:")
///     .statement_timeout(Duration::from_millis(500))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// assert_eq!(store.key_prefix(), "shop:");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NodeRedisStoreBuilder {
    json: NodeJson,
    shared: SharedOptions,
}

impl NodeRedisStoreBuilder {
    shared_options!();

    /// Connects to one Redis server, such as `redis://127.0.0.1:6379` or
    /// `redis://:password@host:6379/2` (the database the Node app uses: koa-redis `db`,
    /// node-redis `database`).
    pub async fn connect(self, url: &str) -> Result<NodeRedisStore, Error> {
        let connection = connect::standalone(url, &self.shared).await?;
        Ok(NodeRedisStore {
            connection,
            json: self.json,
            prefix: self.shared.key_prefix,
            timeout: self.shared.statement_timeout,
            compare_and_set: Script::new(COMPARE_AND_SET),
            compare_and_move: Script::new(COMPARE_AND_MOVE),
            write_locks: Arc::new(
                (0..WRITE_LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            ),
        })
    }
}

/// A sessile [`Store`] on the Redis keys of koa-redis (under koa-session, koa-generic-session
/// or koa-session-minimal) or connect-redis (under express-session), chosen by the
/// [`NodeShape`] of its [`NodeJson`]. See the [module documentation](self) for the layouts and
/// the guarantees.
///
/// Pair it with the matching id codec ([`sessile_node::ids::KoaIds`], [`sessile_node::ids::ExpressIds`]) in
/// [`sessile::SessionManager::new`], and set sessile's idle timeout to the Node app's
/// `maxAge` (connect-redis's `ttl` when the Express cookie has no `maxAge`; one day for
/// koa-session-minimal's browser-session cookie). The store only serves Node ids
/// ([`sessile::SessionId::foreign`]); a sessile id is a [`StoreError::Backend`] error.
#[derive(Clone)]
pub struct NodeRedisStore {
    connection: ConnectionManager,
    json: NodeJson,
    prefix: String,
    timeout: Duration,
    compare_and_set: Script,
    compare_and_move: Script,
    /// Writes of one process to one session take turns, so they do not keep failing each
    /// other's compare-and-set; writers in other processes are kept apart by the
    /// compare-and-set alone.
    write_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for NodeRedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRedisStore")
            .field("shape", &self.json.shape())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What a compare-and-set found.
enum Swap {
    Written,
    Gone,
    Changed,
    Taken,
}

impl Swap {
    fn from_code(code: i64) -> Self {
        match code {
            1 => Swap::Written,
            2 => Swap::Changed,
            3 => Swap::Taken,
            _ => Swap::Gone,
        }
    }
}

/// The document under a key as read, and the record it holds.
struct Read {
    text: Vec<u8>,
    record: Record,
}

impl NodeRedisStore {
    /// A builder for the layout `json` describes (the package's shape and the app's `maxAge`),
    /// with that layout's default key prefix.
    pub fn builder(json: NodeJson) -> NodeRedisStoreBuilder {
        let prefix = match json.shape() {
            NodeShape::KoaSession => "",
            NodeShape::GenericSession | NodeShape::SessionMinimal => "koa:sess:",
            NodeShape::Express => "sess:",
        };
        NodeRedisStoreBuilder {
            json,
            shared: SharedOptions::new(prefix),
        }
    }

    /// The text in front of every session id in its Redis key.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The document shape and the app's `maxAge`.
    pub fn json(&self) -> &NodeJson {
        &self.json
    }

    /// The Redis key of the session under `key`: the prefix and the plain Node id. A sessile id
    /// (no plain id) is an error: the Node app could never find it.
    pub fn redis_key(&self, key: &StoreKey) -> Result<String, StoreError> {
        key.plain()
            .map(|id| format!("{}{id}", self.prefix))
            .ok_or_else(|| {
                StoreError::Backend(
                    "a Node Redis layout stores Node ids only (SessionId::foreign), not sessile ids"
                        .into(),
                )
            })
    }

    /// This process's turn to write the session under `redis_key`.
    async fn write_turn(&self, redis_key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        redis_key.hash(&mut hasher);
        let stripe = (hasher.finish() % WRITE_LOCK_STRIPES as u64) as usize;
        self.write_locks[stripe].lock().await
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        bounded_store(self.timeout, what, call).await
    }

    /// The key's document and its expiry time, read in one `MULTI`.
    async fn read(&self, redis_key: &str) -> Result<Option<Read>, StoreError> {
        let (text, expire_at): (Option<Vec<u8>>, i64) = ::redis::pipe()
            .atomic()
            .get(redis_key)
            .cmd("PEXPIRETIME")
            .arg(redis_key)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(store_error)?;
        let Some(text) = text else {
            return Ok(None);
        };
        let record = self.decode(&text, expire_at)?;
        Ok(Some(Read { text, record }))
    }

    /// The record in `text`, with the deadline the Node side goes by: koa-session's `_expire`
    /// (capped by the key's expiry), the key's expiry alone for the others
    /// (`expire_at`: `PEXPIRETIME`, ms since the epoch; negative for a key that never expires).
    fn decode(&self, text: &[u8], expire_at: i64) -> Result<Record, StoreError> {
        let text = std::str::from_utf8(text)
            .map_err(|e| StoreError::Corrupt(format!("{:?} session: {e}", self.json.shape())))?;
        let ttl_deadline = if expire_at >= 0 {
            Timestamp::from_millis(expire_at)
        } else {
            Timestamp::from_millis(i64::MAX)
        };
        let mut record = self.json.decode(text, Some(ttl_deadline))?;
        let deadline = match self.json.shape() {
            NodeShape::KoaSession => record.idle_deadline.min(ttl_deadline),
            NodeShape::GenericSession | NodeShape::SessionMinimal | NodeShape::Express => {
                ttl_deadline
            }
        };
        layout::stamp_deadline(&self.json, &mut record, deadline);
        Ok(record)
    }

    /// Reads the live record under `from`, lets `change` rewrite it (`Err`: write nothing and
    /// answer that), and writes it back under `to` (the same key but for a rotation) if nobody
    /// changed it meanwhile, else starts over. The changes are the Node layouts' own
    /// ([`layout::apply`], [`layout::increment_change`]), as on the Sequelize tables.
    async fn read_modify_write<T>(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
        change: impl Fn(&mut Record) -> Result<T, T>,
    ) -> Result<Modified<T>, StoreError> {
        let _turn = self.write_turn(from).await;
        loop {
            let Some(Read { text, mut record }) = self.read(from).await? else {
                return Ok(Modified::Gone);
            };
            if !record.is_live(now) {
                return Ok(Modified::Gone);
            }
            let done = match change(&mut record) {
                Ok(done) => done,
                Err(stop) => return Ok(Modified::Done(stop)),
            };
            // The rewrite keeps the document's key order, as the Node app's save does.
            let new = self
                .json
                .encode_over(std::str::from_utf8(&text).ok(), &record);
            let expire_at = expire_at(self.json.shape(), &record);
            let mut script = if from == to {
                self.compare_and_set.key(from)
            } else {
                let mut moving = self.compare_and_move.key(from);
                moving.key(to);
                moving
            };
            let code: i64 = script
                .arg(&text)
                .arg(&new)
                .arg(&expire_at)
                .invoke_async(&mut self.connection.clone())
                .await
                .map_err(store_error)?;
            match Swap::from_code(code) {
                Swap::Written => return Ok(Modified::Done(done)),
                Swap::Gone => return Ok(Modified::Gone),
                Swap::Taken => return Ok(Modified::Collision),
                Swap::Changed => tokio::task::yield_now().await,
            }
        }
    }
}

#[async_trait]
impl Store for NodeRedisStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let redis_key = self.redis_key(key)?;
        let read = self.bounded("load", self.read(&redis_key)).await?;
        Ok(read
            .map(|read| read.record)
            .filter(|record| record.is_live(now)))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let redis_key = self.redis_key(key)?;
        let document = self.json.encode(record);
        let mut set = Cmd::new();
        set.arg("SET").arg(&redis_key).arg(&document).arg("NX");
        let expire_at = expire_at(self.json.shape(), record);
        if !expire_at.is_empty() {
            set.arg("PXAT").arg(&expire_at);
        }
        let answer: Value = self
            .bounded("create", async {
                set.query_async(&mut self.connection.clone())
                    .await
                    .map_err(store_error)
            })
            .await?;
        Ok(match answer {
            Value::Nil => CreateOutcome::Collision,
            _ => CreateOutcome::Created,
        })
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        layout::refuse_what_node_documents_lack(changes)?;
        let redis_key = self.redis_key(key)?;
        let modified = self
            .bounded(
                "update",
                self.read_modify_write(&redis_key, &redis_key, now, layout::apply(changes)),
            )
            .await?;
        modified.update_outcome()
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        layout::refuse_what_node_documents_lack(changes)?;
        let (from_key, to_key) = (self.redis_key(from)?, self.redis_key(to)?);
        if from_key == to_key {
            return Ok(RotateOutcome::Collision);
        }
        let modified = self
            .bounded(
                "rotate",
                self.read_modify_write(&from_key, &to_key, now, layout::apply(changes)),
            )
            .await?;
        modified.rotate_outcome()
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let redis_key = self.redis_key(key)?;
        let change = layout::increment_change(&self.json, field, by, touch);
        let modified = self
            .bounded(
                "increment",
                self.read_modify_write(&redis_key, &redis_key, now, change),
            )
            .await?;
        Ok(modified.increment_outcome())
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let redis_key = self.redis_key(key)?;
        let deleted: i64 = self
            .bounded("delete", async {
                Cmd::new()
                    .arg("DEL")
                    .arg(&redis_key)
                    .query_async(&mut self.connection.clone())
                    .await
                    .map_err(store_error)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn list_user_sessions(
        &self,
        _user: &str,
        _now: Timestamp,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> Result<sessile::UserSessionsPage, StoreError> {
        Err(layout::no_user_index())
    }

    async fn delete_user_sessions(
        &self,
        _user: &str,
        _keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        Err(layout::no_user_index())
    }

    async fn delete_expired(&self, _now: Timestamp, _limit: u32) -> Result<u64, StoreError> {
        // Redis drops every key at its TTL; there is nothing to sweep.
        Ok(0)
    }
}

/// When the key of `record` expires (`PXAT`, ms since the epoch): at its deadline, or 10 s
/// later for koa-session; empty for a record that never expires.
fn expire_at(shape: NodeShape, record: &Record) -> String {
    let deadline = record.expires_at().as_millis();
    if deadline == i64::MAX {
        return String::new();
    }
    let grace = match shape {
        NodeShape::KoaSession => KOA_SESSION_STORE_GRACE_MS,
        NodeShape::GenericSession | NodeShape::SessionMinimal | NodeShape::Express => 0,
    };
    deadline.saturating_add(grace).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(deadline_ms: i64) -> Record {
        let mut record = Record::new(
            Timestamp::from_millis(0),
            Timestamp::from_millis(deadline_ms),
            Timestamp::from_millis(i64::MAX),
        );
        record.persistent = true;
        record
    }

    fn store_shape(shape: NodeShape) -> NodeRedisStoreBuilder {
        NodeRedisStore::builder(NodeJson::new(shape, Duration::from_secs(3600)))
    }

    #[test]
    fn default_prefixes_are_the_packages() {
        let prefix = |shape| store_shape(shape).shared.key_prefix;
        assert_eq!(prefix(NodeShape::KoaSession), "");
        assert_eq!(prefix(NodeShape::GenericSession), "koa:sess:");
        assert_eq!(prefix(NodeShape::SessionMinimal), "koa:sess:");
        assert_eq!(prefix(NodeShape::Express), "sess:");
    }

    #[test]
    fn keys_expire_at_the_deadline_koa_session_ten_seconds_later() {
        let deadline = 1_700_003_600_000;
        assert_eq!(
            expire_at(NodeShape::KoaSession, &record(deadline)),
            "1700003610000"
        );
        for shape in [
            NodeShape::GenericSession,
            NodeShape::SessionMinimal,
            NodeShape::Express,
        ] {
            assert_eq!(expire_at(shape, &record(deadline)), "1700003600000");
            assert_eq!(expire_at(shape, &record(i64::MAX)), "");
        }
    }
}
