//! Redis session store for [`sessile`]: one Redis server or a Redis Cluster.
//!
//! ```no_run
//! # async fn example() -> Result<(), sessile_redis::Error> {
//! use sessile::{Config, Keys, SessionManager, SignedIds};
//! use sessile_redis::RedisStore;
//!
//! // One server…
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! // …or a Cluster, through any of its nodes.
//! let clustered = RedisStore::builder()
//!     .key_prefix("shop:")
//!     .cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
//!     .await?;
//! let manager = SessionManager::new(store, SignedIds::new(Keys::generate()), Config::default());
//! # let _ = (manager, clustered);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! A session is one hash, `<prefix>{<hex store key>}` (default prefix `sessile:`). The braces
//! are a hash tag: everything about one session lives in one Cluster slot. Its fields:
//!
//! - `d:<key>`: one per data key, the value's JSON text. An integer's JSON is its decimal text,
//!   so `increment` is a plain `HINCRBY` on it;
//! - `m:user`, `m:created_at`, `m:last_seen`, `m:idle_deadline`, `m:absolute_deadline`
//!   (milliseconds), `m:persistent` (`0`/`1`), `m:device` (JSON), `m:idle_timeout` (the
//!   session's own idle timeout in milliseconds, absent for the manager's: the scripts move
//!   the idle deadline and the key's `PEXPIREAT` by it), and in Cluster mode `m:rev`,
//!   a write counter that the Cluster rotation compares (standalone never needs it, so no
//!   standalone write touches it). The `d:`/`m:` prefixes keep data keys from ever colliding
//!   with metadata.
//!
//! The hash carries `PEXPIREAT` at the earlier of its two deadlines, so Redis drops it on time;
//! every read also compares the deadlines with the engine's `now`, so an expired record is never
//! returned even before Redis has dropped it.
//!
//! Two sorted sets of hex store keys index the sessions: `<prefix>user:{<user>}` per user (for
//! "my devices" and "sign out everywhere") and `<prefix>expiry` (for
//! [`Store::delete_expired`](sessile::Store::delete_expired)). In both modes an entry is scored
//! by the session's absolute deadline, which never moves, so a touch writes no index. Both keys
//! expire on their own once the longest absolute deadline they index has passed.
//!
//! # Round trips
//!
//! `load` is one `HGETALL`. `update` (commit), `increment`, `create`, `delete` and (standalone)
//! `rotate` are each one `EVALSHA` of a Lua script, which Redis runs atomically: check that the
//! session exists and is live at `now` (no resurrection), apply `HSET`/`HDEL`/`HINCRBY`, move the
//! metadata and the expiry. Scripts are loaded when the store connects; a server that lost them
//! (a restart) answers `NOSCRIPT` once, and that call costs `EVALSHA`, `SCRIPT LOAD`, `EVALSHA`.
//!
//! Inside Redis the hot scripts stay small. An `increment` runs three commands: one `HMGET` of
//! the two deadlines and the counter (and `m:rev` in Cluster mode), one `HSET` of the new value
//! with `m:last_seen` and `m:idle_deadline` (and the next `m:rev`), and `PEXPIREAT` (skipped when the expiry did not move, e.g. once the
//! idle deadline is capped by the absolute one). The script adds canonical integers below 10^15
//! itself (exact in Lua's doubles) and leaves larger ones to `HINCRBY`, which refuses an
//! overflow. A commit is the same `HMGET` (deadlines, user), one `HSET` of every set field and
//! metadata field, one `HDEL` of the removed ones, and `PEXPIREAT` when the expiry moved; the
//! user index is written only when the user changes.
//!
//! # Guarantees per mode
//!
//! **Standalone.** Every operation is one script, and the script keeps both indexes itself
//! (their key names are derived inside the script, which a single server allows). The contract
//! holds exactly: the per-user index and the expiry index change in the same atomic step as the
//! session's creation, user change, rotation and deletion; `rotate` moves the record with
//! `RENAME` in the same script (data, user, deadlines kept; the old key gone in the same
//! instant). Index entries are scored by the absolute deadline, so a session that dies of
//! idleness leaves its entries behind: Redis drops its hash at the idle deadline (`PEXPIREAT`),
//! listings and revocations check every entry against the hash and skip it, and
//! `delete_expired` and user listings prune an entry once its score has passed and its hash is
//! dead. An entry found live behind a passed score (written by the older layout, which scored
//! by the idle deadline) is scored again by the absolute deadline, so upgrading loses no
//! session from a listing.
//!
//! **Cluster.** A session's hash is one slot, so `load`, `update`, `increment` and `delete` of the
//! session itself are as atomic as in standalone: concurrent different-key writes all persist,
//! increments add up, nothing is resurrected. The indexes live in other slots, so they are kept
//! with separate calls, ordered so that they never *miss* a session: entries are added before
//! the session is written (`create`, a user change, `rotate`) and removed after it is deleted.
//! In between they may hold stale entries, which every reader checks against the session's own
//! hash (its user and deadlines) and ignores: listings and revocations are exact, and a stale
//! entry never deletes a session that now belongs to someone else. Entries are scored by the
//! absolute deadline (which never moves), so touches cost no index write, and a stale entry is
//! pruned once that deadline passes. Consequences:
//!
//! - a commit that changes the user costs two more round trips (read the absolute deadline, add
//!   the entry) plus one to remove the old user's entry; `create` costs one more (the index
//!   adds, in parallel);
//! - `rotate` copies the record to the new key (a create that fails on a live key), then deletes
//!   the old key only if no write reached it since it was read (its `m:rev`); if one did, the copy
//!   is dropped and the move starts again, so no concurrent change is lost; if the old key was
//!   deleted meanwhile, the copy is dropped and the outcome is `Gone`. Between the two steps both
//!   keys hold the record: a request still carrying the old id can read it for that moment (the
//!   new id is not known to anyone until the response carries it);
//! - `delete_expired` sees a session once its absolute deadline has passed; one that died of
//!   idleness earlier is already gone from Redis (its `PEXPIREAT`), and only its index entry
//!   waits for cleanup. The expiry index is one key, on one node.
//!
//! # The per-user session limit
//!
//! [`Store::create_within_limit`](sessile::Store::create_within_limit) and `update`/`rotate`
//! with [`ChangeSet::user_limit`](sessile::ChangeSet::user_limit) count the user's other
//! sessions live at `now` (each index entry checked against its hash: user and both deadlines),
//! decide with [`UserLimit::decide`](sessile::limit::UserLimit::decide), delete the evicted
//! sessions as `delete` does, and write, or answer `Refused` and write nothing.
//!
//! - **Standalone:** all of it inside the one script of the write (its limited variant), so
//!   it is atomic like every other standalone operation.
//! - **Cluster:** a user's sessions are in as many slots as they have sessions, so no script
//!   sees them all. Sign-ins under a limit take turns holding the user's lease,
//!   `<prefix>user-lease:{<user>}` (`SET NX PX`, in the user index's slot), and count, write
//!   and evict while holding it; concurrent sign-ins of one user through one store wait in the
//!   process first and do not poll Redis. The lease lapses after the statement timeout, which
//!   also bounds the whole call, so a crashed holder blocks the user's sign-ins at most that
//!   long. What the lease cannot cover: a holder paused (not crashed) past its lease, and writes
//!   that sign a user in *without* a limit (none, when the manager has one), can let a user
//!   hold more than the limit until the next sign-in evicts. A sign-in costs about six round
//!   trips (nine for a rotation), and concurrent sign-ins of one user run one after another.
//!
//! # The client
//!
//! This crate uses redis-rs (the `redis` crate) rather than fred:
//!
//! - **reconnects**: [`ConnectionManager`](redis::aio::ConnectionManager) and the async Cluster
//!   connection reconnect on their own after the server comes back; requests meanwhile fail fast
//!   and become [`StoreError::Unavailable`](sessile::StoreError::Unavailable) (503), bounded by
//!   [`RedisStoreBuilder::statement_timeout`];
//! - **pipelining**: both connections are multiplexed, so concurrent requests share one socket
//!   and are written back to back without waiting for each other's replies;
//! - **Cluster redirections**: the async Cluster client follows `MOVED`/`ASK`, retries `TRYAGAIN`
//!   and `CLUSTERDOWN` with backoff and refreshes its slot map, which is what carries requests
//!   through a failover;
//! - **RESP3**: supported by redis-rs (`protocol=resp3` in the URL), but not needed: the store
//!   uses no push messages or client-side caching, so the default RESP2 is used;
//! - and its `Script` type does `EVALSHA` with the `NOSCRIPT` fallback. fred offers the same
//!   features with more machinery (its own pools and reconnect policies); redis-rs is the more
//!   widely used client and the one other sessile crates' users most likely already have.
//!
//! # Features
//!
//! - `rustls` (default): `rediss://` URLs.
//! - `node`: [`node::NodeRedisStore`], the keys koa-redis and connect-redis write, on the same
//!   connection setup, timeouts and error classification as [`RedisStore`].

#![warn(missing_docs)]

#[doc(hidden)]
pub mod bench_support;
mod connect;
mod error;
mod layout;
#[cfg(feature = "node")]
pub mod node;
mod options;
mod scripts;
mod store;
mod tls;

pub use error::Error;
pub use options::DEFAULT_TIMEOUT;
pub use store::{Mode, RedisStore, RedisStoreBuilder, DEFAULT_KEY_PREFIX};

/// `docs/moving-from-node.md`, included so its examples compile and run as doctests (it uses
/// the Node layouts of this crate and of sessile-sql).
#[cfg(all(doctest, feature = "node"))]
#[doc = include_str!("../../../docs/moving-from-node.md")]
pub struct MovingFromNodeGuide;
