//! [`RedisStore`]: the [`Store`] implementation, its builder and its two connection modes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, Script, Value};
use sessile::limit::{LimitDecision, LimitPolicy, UserLimit};
use sessile::store::{Lookup, ScanPage, ScannedSession, UserCursor, UserSessionsPage};
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, SessionSummary, Store,
    StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};

use crate::connect;
use crate::error::{bounded, bounded_store, store_error, timed_out, Error};
use crate::layout::{self, KeyNames, DATA, SUMMARY_FIELDS};
use crate::options::{shared_options, SharedOptions};
use crate::scripts::{self, SCRIPTS};

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "sessile:";
/// How often a Cluster rotation retries when the old record changed while it was being copied.
const ROTATE_ATTEMPTS: usize = 8;

/// How many sessions one page of a user listing holds at most: each is one `HMGET`.
const MAX_USER_PAGE: u32 = 1_000;

/// Whether a [`RedisStore`] talks to one server or to a Redis Cluster. The guarantees differ
/// where the per-user and expiry indexes live in other slots than the session; see the crate
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One Redis server (or a primary with replicas behind one address).
    Standalone,
    /// A Redis Cluster.
    Cluster,
}

/// One multiplexed connection of either kind; both reconnect on their own.
#[derive(Clone)]
enum Connection {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(connection) => connection.req_packed_commands(cmd, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Configures and connects a [`RedisStore`], with the option names every sessile store uses:
///
/// - `key_prefix` (default [`DEFAULT_KEY_PREFIX`]): must not contain `{` or `}`, which would
///   break the hash tags that keep a session in one slot ([`Error::InvalidKeyPrefix`] when
///   connecting);
/// - `acquire_timeout` (default [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)): the bound on connecting and reconnecting;
/// - `statement_timeout` (default [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)): the bound on each store call.
///
/// ```no_run
/// # async fn example() -> Result<(), sessile_redis::Error> {
/// use std::time::Duration;
/// use sessile_redis::RedisStore;
///
/// let store = RedisStore::builder()
///     .key_prefix("shop:sessions:")
///     .acquire_timeout(Duration::from_secs(1))
///     .statement_timeout(Duration::from_millis(500))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    shared: SharedOptions,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            shared: SharedOptions::new(DEFAULT_KEY_PREFIX),
        }
    }
}

impl RedisStoreBuilder {
    shared_options!();

    fn key_names(&self) -> Result<KeyNames, Error> {
        let prefix = &self.shared.key_prefix;
        if prefix.contains(['{', '}']) {
            return Err(Error::InvalidKeyPrefix {
                prefix: prefix.clone(),
                reason: "a brace would break the hash tags that keep a session in one slot",
            });
        }
        Ok(KeyNames::new(prefix.clone()))
    }

    /// Connects to one Redis server, such as `redis://127.0.0.1:6379` or
    /// `redis://:password@host:6379/2`.
    pub async fn connect(self, url: &str) -> Result<RedisStore, Error> {
        let names = self.key_names()?;
        let manager = connect::standalone(url, &self.shared).await?;
        RedisStore::ready(
            Connection::Standalone(manager),
            names,
            self.shared.statement_timeout,
        )
        .await
        .map_err(Error::Connect)
    }

    /// Connects to a Redis Cluster through any of its nodes, such as
    /// `["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]`.
    pub async fn cluster<I, S>(self, urls: I) -> Result<RedisStore, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = self.key_names()?;
        let urls = urls
            .into_iter()
            .map(|url| url.as_ref().to_owned())
            .collect();
        let connection = connect::cluster(urls, &self.shared).await?;
        RedisStore::ready(
            Connection::Cluster(connection),
            names,
            self.shared.statement_timeout,
        )
        .await
        .map_err(Error::Connect)
    }
}

/// A session store on Redis or a Redis Cluster: one hash per session, one Lua script per commit.
///
/// See the crate documentation for the layout and the exact guarantees of each mode.
///
/// ```no_run
/// # async fn example() -> Result<(), sessile_redis::Error> {
/// use sessile::{Config, Keys, SessionManager, SignedIds};
/// use sessile_redis::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let manager = SessionManager::new(store, SignedIds::new(Keys::generate()), Config::default());
/// # let _ = manager;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    names: KeyNames,
    timeout: Duration,
    turns: Arc<SignInTurns>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.mode())
            .field("prefix", &self.names.prefix())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisStore {
    /// Connects to one Redis server with the default prefix and timeouts.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        RedisStoreBuilder::default().connect(url).await
    }

    /// Connects to a Redis Cluster with the default prefix and timeouts.
    pub async fn cluster<I, S>(urls: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RedisStoreBuilder::default().cluster(urls).await
    }

    /// A builder for the key prefix and the timeouts.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// Whether this store talks to one server or to a Cluster.
    pub fn mode(&self) -> Mode {
        match self.connection {
            Connection::Standalone(_) => Mode::Standalone,
            Connection::Cluster(_) => Mode::Cluster,
        }
    }

    /// The name of the hash that holds the session under `key`: `<prefix>{<hex key>}`.
    pub fn session_key(&self, key: &StoreKey) -> String {
        self.names.session(key)
    }

    /// The name of the sorted set that indexes `user`'s sessions: `<prefix>user:{<user>}`.
    pub fn user_index_key(&self, user: &str) -> String {
        self.names.user_index(user)
    }

    /// Loads every script (on every primary, in a Cluster) so the first commit after connecting
    /// costs one `EVALSHA`. A server that lost its scripts (a restart) gets them back through
    /// the `EVALSHA` → `NOSCRIPT` → `SCRIPT LOAD` fallback.
    async fn ready(
        connection: Connection,
        names: KeyNames,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let store = Self {
            connection,
            names,
            timeout,
            turns: Arc::new(SignInTurns::default()),
        };
        store
            .bounded("loading scripts", async {
                let mut connection = store.connection.clone();
                for script in scripts::all() {
                    script.load_async(&mut connection).await?;
                }
                Ok(())
            })
            .await?;
        Ok(store)
    }

    fn indexed(&self) -> bool {
        self.mode() == Mode::Standalone
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, what, call).await
    }

    /// The start of an `EVALSHA` of `script` (its digest was computed once): `keys`, then the
    /// common `prefix` and `indexed` arguments. The caller appends the script's own arguments,
    /// straight into the command's buffer.
    fn evalsha(&self, script: &Script, keys: &[&str]) -> Cmd {
        // Room for the hot scripts' whole command (an increment: 12 arguments, ≈ 200 bytes), so
        // building it takes two allocations rather than a series of regrowths.
        let key_bytes: usize = keys.iter().map(|key| key.len()).sum();
        let mut evalsha =
            Cmd::with_capacity(keys.len() + 12, key_bytes + self.names.prefix().len() + 128);
        evalsha
            .arg("EVALSHA")
            .arg(script.get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(self.names.prefix())
            .arg(layout::flag(self.indexed()));
        evalsha
    }

    /// Sends an [`evalsha`](Self::evalsha) command: one round trip. A server that lost its
    /// scripts (a restart) answers `NOSCRIPT`; the script is then loaded and the command sent
    /// again.
    async fn run_script<T: FromRedisValue>(
        &self,
        script: &Script,
        evalsha: &Cmd,
    ) -> Result<T, RedisError> {
        let mut connection = self.connection.clone();
        match evalsha.query_async(&mut connection).await {
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                script.load_async(&mut connection).await?;
                evalsha.query_async(&mut connection).await
            }
            result => result,
        }
    }

    /// Runs `script` with `keys`, the common `prefix` and `indexed` arguments, then `args`.
    async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, RedisError> {
        let mut evalsha = self.evalsha(script, keys);
        evalsha.arg(args);
        self.run_script(script, &evalsha).await
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        cmd.query_async(&mut self.connection.clone()).await
    }

    /// Cluster only: adds `member` to an index in another slot, keeping the index alive until
    /// `score` (an absolute deadline, which never moves).
    async fn index_add(
        &self,
        index: &str,
        member: &str,
        score: Timestamp,
    ) -> Result<(), RedisError> {
        let score = score.as_millis().to_string();
        self.script::<i64>(&SCRIPTS.index_add, &[index], &[member, &score])
            .await
            .map(drop)
    }

    /// Cluster only: adds the session to the expiry index and its user's index before the
    /// session itself is written, so the indexes never miss a session.
    async fn index_before_write(
        &self,
        member: &str,
        user: Option<&str>,
        absolute_deadline: Timestamp,
    ) -> Result<(), RedisError> {
        let expiry = self.names.expiry_index();
        let expiry_add = self.index_add(&expiry, member, absolute_deadline);
        match user {
            Some(user) => {
                let user_index = self.names.user_index(user);
                let (first, second) = tokio::join!(
                    expiry_add,
                    self.index_add(&user_index, member, absolute_deadline)
                );
                first.and(second)
            }
            None => expiry_add.await,
        }
    }

    /// Cluster only: removes index entries after the session is gone or moved.
    async fn unindex_after_write(
        &self,
        member: &str,
        user: Option<&str>,
    ) -> Result<(), RedisError> {
        let expiry = self.names.expiry_index();
        let mut zrem = Cmd::new();
        zrem.arg("ZREM").arg(&expiry).arg(member);
        let expiry_rem = self.query::<i64>(&zrem);
        match user {
            Some(user) => {
                let mut user_rem = Cmd::new();
                user_rem
                    .arg("ZREM")
                    .arg(self.names.user_index(user))
                    .arg(member);
                let (first, second) = tokio::join!(expiry_rem, self.query::<i64>(&user_rem));
                first.and(second).map(drop)
            }
            None => expiry_rem.await.map(drop),
        }
    }

    /// The create script; under a per-user limit (standalone) when `limit` holds its
    /// [`limit_args`].
    async fn create_script(
        &self,
        key: &StoreKey,
        record: &Record,
        now: Timestamp,
        limit: Option<&[String]>,
    ) -> Result<CreateOutcome, RedisError> {
        let hash = self.names.session(key);
        let member = layout::member(key);
        let now = now.as_millis().to_string();
        let expires_at = record.expires_at().as_millis().to_string();
        let absolute = record.absolute_deadline.as_millis().to_string();
        let fields = layout::record_fields(record);
        let mut args: Vec<&str> = vec![
            &member,
            &now,
            &expires_at,
            &absolute,
            layout::flag(record.user.is_some()),
            record.user.as_deref().unwrap_or_default(),
        ];
        args.extend(fields.iter().map(String::as_str));
        let script = match limit {
            Some(limit) => {
                args.extend(limit.iter().map(String::as_str));
                &SCRIPTS.create_limited
            }
            None => &SCRIPTS.create,
        };
        let created: i64 = self.script(script, &[&hash], &args).await?;
        Ok(match created {
            1 => CreateOutcome::Created,
            3 => CreateOutcome::Refused,
            _ => CreateOutcome::Collision,
        })
    }

    /// Cluster rotation: copy, then delete the old hash if nothing wrote to it meanwhile.
    async fn rotate_across_slots(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, RedisError> {
        let (from_member, to_member) = (layout::member(from), layout::member(to));
        for _ in 0..ROTATE_ATTEMPTS {
            let fields: Vec<(Vec<u8>, Vec<u8>)> = self
                .query(Cmd::new().arg("HGETALL").arg(self.names.session(from)))
                .await?;
            let stored = match layout::decode(fields) {
                Ok(Some(stored)) if stored.record.is_live(now) => stored,
                // Unreadable or dead: nothing to move, exactly like a missing record.
                Ok(_) | Err(_) => return Ok(RotateOutcome::Gone),
            };
            let old_user = stored.record.user.clone();
            let mut moved = stored.record;
            changes.apply_to(&mut moved).map_err(|refused| {
                RedisError::from((
                    ErrorKind::ClientError,
                    "document operations refused",
                    refused.to_string(),
                ))
            })?;
            self.index_before_write(&to_member, moved.user.as_deref(), moved.absolute_deadline)
                .await?;
            if self.create_script(to, &moved, now, None).await? == CreateOutcome::Collision {
                return Ok(RotateOutcome::Collision);
            }
            let mut evalsha =
                self.evalsha(&SCRIPTS.delete_if_unchanged, &[&self.names.session(from)]);
            evalsha
                .arg(&stored.revision)
                .arg(forward_until(changes))
                .arg(&to_member)
                .arg(forward_sealed(changes));
            let deleted: i64 = self
                .run_script(&SCRIPTS.delete_if_unchanged, &evalsha)
                .await?;
            match deleted {
                1 => {
                    self.unindex_after_write(&from_member, old_user.as_deref())
                        .await?;
                    return Ok(RotateOutcome::Rotated);
                }
                0 => {
                    // Deleted (logged out, revoked) while being copied: the copy must not live on.
                    self.query::<i64>(Cmd::new().arg("DEL").arg(self.names.session(to)))
                        .await?;
                    return Ok(RotateOutcome::Gone);
                }
                _ => {
                    // A concurrent write changed the old record: drop the copy and copy again,
                    // so that write is not lost. Nobody knows the new id yet.
                    self.query::<i64>(Cmd::new().arg("DEL").arg(self.names.session(to)))
                        .await?;
                }
            }
        }
        Err(RedisError::from((
            ErrorKind::TryAgain,
            "rotate: the session kept changing while it was being moved",
        )))
    }

    async fn summaries(
        &self,
        user: &str,
        members: Vec<String>,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let reads = members.iter().map(|member| async move {
            let mut hmget = Cmd::new();
            hmget
                .arg("HMGET")
                .arg(self.names.session_of_member(member))
                .arg(&SUMMARY_FIELDS[..]);
            self.query::<Vec<Option<Vec<u8>>>>(&hmget).await
        });
        let mut summaries = Vec::new();
        for (member, read) in members.iter().zip(join_all(reads).await) {
            let read = read.map_err(store_error)?;
            let Some(key) = StoreKey::from_hex(member) else {
                continue;
            };
            match layout::summary_fields(read) {
                Ok(Some(fields))
                    if fields.user.as_deref() == Some(user) && now < fields.expires_at =>
                {
                    summaries.push(SessionSummary::new(
                        key,
                        fields.created_at,
                        fields.last_seen,
                        fields.expires_at,
                        fields.device,
                    ));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(session = %key.log_tag(), %error, "skipping a corrupt session in a user listing");
                }
            }
        }
        // In the index's order, which pages follow.
        Ok(summaries)
    }
}

impl RedisStore {
    /// [`Store::update`] itself. A sign-in under a per-user limit (standalone) runs the limited
    /// script; on a Cluster the caller holds the user's lease, and the script is the plain one.
    async fn update_unleased(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        if !changes.operations.is_empty() {
            return self.update_with_operations(key, changes, now).await;
        }
        let hash = self.names.session(key);
        let member = layout::member(key);
        let now_text = now.as_millis().to_string();
        let change_args = layout::change_args(changes);
        let limit = self.limit_in_script(changes, now, &member);
        let mut args: Vec<&str> = vec![&member, &now_text];
        args.extend(change_args.iter().map(String::as_str));
        let script = match &limit {
            Some(limit) => {
                args.extend(limit.iter().map(String::as_str));
                &SCRIPTS.update_limited
            }
            None => &SCRIPTS.update,
        };
        self.bounded("update", async {
            let outcome = self
                .update_script(script, &hash, &member, &args, changes)
                .await?;
            Ok(outcome.unwrap_or(UpdateOutcome::Gone))
        })
        .await
    }

    /// The [`limit_args`] an update script appends when `changes` sign a user in under a limit
    /// and the script can count (standalone).
    fn limit_in_script(
        &self,
        changes: &ChangeSet,
        now: Timestamp,
        member: &str,
    ) -> Option<Vec<String>> {
        let (user, limit) = limited_sign_in(changes).filter(|_| self.indexed())?;
        Some(limit_args(user, limit, now, &[member]))
    }

    /// A change set with document operations: read the data fields the operations touch,
    /// apply the operations to them with the reference semantics, and write the resulting
    /// fields with the update script behind a compare of what was read; a field changed
    /// meanwhile starts it over. Plain change sets never come here.
    async fn update_with_operations(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let hash = self.names.session(key);
        let member = layout::member(key);
        let now_text = now.as_millis().to_string();
        let (touched, fields) = layout::operation_fields(changes);
        loop {
            let mut hmget = Cmd::new();
            hmget.arg("HMGET").arg(&hash).arg(&fields);
            let texts: Vec<Option<String>> = self.bounded("update", self.query(&hmget)).await?;
            let (checks, resolved) = layout::checked_update(changes, &touched, &fields, &texts)?;
            let change_args = layout::change_args(&resolved);
            let limit = self.limit_in_script(changes, now, &member);
            let mut args: Vec<&str> = vec![&member, &now_text];
            args.extend(checks.iter().map(String::as_str));
            args.extend(change_args.iter().map(String::as_str));
            let script = match &limit {
                Some(limit) => {
                    args.extend(limit.iter().map(String::as_str));
                    &SCRIPTS.update_checked_limited
                }
                None => &SCRIPTS.update_checked,
            };
            let answer = self.update_script(script, &hash, &member, &args, &resolved);
            if let Some(outcome) = self.bounded("update", answer).await? {
                return Ok(outcome);
            }
            tokio::task::yield_now().await;
        }
    }

    /// The update script's run and the user index work around it (Cluster): `None` when the
    /// checked script found a field changed since it was read.
    async fn update_script(
        &self,
        script: &Script,
        hash: &str,
        member: &str,
        args: &[&str],
        changes: &ChangeSet,
    ) -> Result<Option<UpdateOutcome>, RedisError> {
        let new_user = match &changes.user {
            Some(Some(user)) if !self.indexed() => Some(user.as_str()),
            _ => None,
        };
        if let Some(user) = new_user {
            // The user index lives in another slot: add the entry first (scored by the
            // absolute deadline, read here), so the index never misses the session.
            let absolute: Option<String> = self
                .query(Cmd::new().arg("HGET").arg(hash).arg("m:absolute_deadline"))
                .await?;
            let Some(absolute) = absolute.and_then(|text| text.parse::<i64>().ok()) else {
                return Ok(Some(UpdateOutcome::Gone));
            };
            let index = self.names.user_index(user);
            self.index_add(&index, member, Timestamp::from_millis(absolute))
                .await?;
        }
        let (applied, had_user, old_user): (i64, String, String) =
            self.script(script, &[hash], args).await?;
        match applied {
            0 => return Ok(Some(UpdateOutcome::Gone)),
            2 => return Ok(None),
            3 => return Ok(Some(UpdateOutcome::Refused)),
            _ => {}
        }
        let user_changed = match &changes.user {
            Some(new) => had_user == "1" && new.as_deref() != Some(old_user.as_str()),
            None => false,
        };
        if !self.indexed() && user_changed {
            self.query::<i64>(
                Cmd::new()
                    .arg("ZREM")
                    .arg(self.names.user_index(&old_user))
                    .arg(member),
            )
            .await?;
        }
        if let (false, Some(absolute)) = (self.indexed(), changes.absolute_deadline) {
            // The indexes live in other slots and hold the absolute deadline: re-score them.
            let user = match &changes.user {
                Some(user) => user.clone(),
                None => (had_user == "1").then_some(old_user),
            };
            self.index_before_write(member, user.as_deref(), absolute)
                .await?;
        }
        Ok(Some(UpdateOutcome::Applied))
    }

    /// One page of [`Store::scan`]: entries of the expiry index after the cursor's
    /// (score, member), then each entry's hash; entries whose hash Redis already dropped are
    /// skipped.
    async fn scan_page(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let (after_score, after_member) = match cursor {
            None => ("", ""),
            Some(text) => text.split_once(':').ok_or_else(|| {
                StoreError::Backend(format!("not a Redis scan cursor: {text:?}").into())
            })?,
        };
        let limit = limit.clamp(1, 10_000);
        let entries: Vec<(String, String)> = self
            .script(
                &SCRIPTS.scan_expiry,
                &[&self.names.expiry_index()],
                &[after_score, after_member, &limit.to_string()],
            )
            .await
            .map_err(store_error)?;
        let next = (entries.len() >= limit as usize)
            .then(|| {
                entries
                    .last()
                    .map(|(member, score)| format!("{score}:{member}"))
            })
            .flatten();
        let reads = entries.iter().map(|(member, _)| async move {
            let mut hmget = Cmd::new();
            hmget
                .arg("HMGET")
                .arg(self.names.session_of_member(member))
                .arg(&SUMMARY_FIELDS[..]);
            self.query::<Vec<Option<Vec<u8>>>>(&hmget).await
        });
        let mut sessions = Vec::new();
        for ((member, _), read) in entries.iter().zip(join_all(reads).await) {
            let read = read.map_err(store_error)?;
            let Some(key) = StoreKey::from_hex(member) else {
                continue;
            };
            match layout::summary_fields(read) {
                Ok(Some(fields)) => sessions.push(ScannedSession::new(
                    SessionSummary::new(
                        key,
                        fields.created_at,
                        fields.last_seen,
                        fields.expires_at,
                        fields.device,
                    ),
                    fields.user,
                )),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(session = %key.log_tag(), %error, "skipping a corrupt session in a scan");
                }
            }
        }
        Ok(ScanPage::new(sessions, next))
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_live())
    }

    /// Redis drops the hash at its deadline, so an expired session is normally `Missing`. `now`
    /// is the engine's clock, which may run ahead of the server's: a hash still there past its
    /// deadline is `Expired`.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self
            .bounded(
                "load",
                self.query(Cmd::new().arg("HGETALL").arg(self.names.session(key))),
            )
            .await?;
        if let Some(forward) = layout::forward(&fields, now)? {
            return Ok(forward);
        }
        Ok(match layout::decode(fields)? {
            None => Lookup::Missing,
            Some(stored) => match stored.record.expired_by(now) {
                None => Lookup::Live(stored.record),
                Some(deadline) => Lookup::Expired(deadline),
            },
        })
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.bounded("create", async {
            if !self.indexed() {
                self.index_before_write(
                    &layout::member(key),
                    record.user.as_deref(),
                    record.absolute_deadline,
                )
                .await?;
            }
            self.create_script(key, record, record.last_seen, None)
                .await
        })
        .await
    }

    /// Standalone: the create script with the limit in it. Cluster: under the user's lease
    /// (see the crate documentation, "The per-user session limit").
    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let Some(user) = record.user.as_deref() else {
            return self.create(key, record).await;
        };
        let now = record.last_seen;
        if self.indexed() {
            let limit = limit_args(user, limit, now, &[&layout::member(key)]);
            return self
                .bounded("create", self.create_script(key, record, now, Some(&limit)))
                .await;
        }
        let ready = SignInNeeds {
            live: None,
            free: Some(key),
            skip: &[key],
        };
        let write = async {
            let outcome = self.create(key, record).await?;
            Ok((outcome, outcome == CreateOutcome::Created))
        };
        self.under_lease(
            "create",
            user,
            limit,
            now,
            ready,
            CreateOutcome::Refused,
            write,
        )
        .await
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        if let (Some((user, limit)), false) = (limited_sign_in(changes), self.indexed()) {
            let ready = SignInNeeds {
                live: Some(key),
                free: None,
                skip: &[key],
            };
            let write = async {
                let outcome = self.update_unleased(key, changes, now).await?;
                Ok((outcome, outcome == UpdateOutcome::Applied))
            };
            return self
                .under_lease(
                    "update",
                    user,
                    limit,
                    now,
                    ready,
                    UpdateOutcome::Refused,
                    write,
                )
                .await;
        }
        self.update_unleased(key, changes, now).await
    }
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        if from == to {
            return Ok(RotateOutcome::Collision);
        }
        if !changes.operations.is_empty() {
            return Err(rotation_takes_no_operations());
        }
        let limited = limited_sign_in(changes);
        if !self.indexed() {
            let rotate = self.bounded("rotate", self.rotate_across_slots(from, to, changes, now));
            let Some((user, limit)) = limited else {
                return rotate.await;
            };
            let ready = SignInNeeds {
                live: Some(from),
                free: Some(to),
                skip: &[from, to],
            };
            let write = async {
                let outcome = rotate.await?;
                Ok((outcome, outcome == RotateOutcome::Rotated))
            };
            return self
                .under_lease(
                    "rotate",
                    user,
                    limit,
                    now,
                    ready,
                    RotateOutcome::Refused,
                    write,
                )
                .await;
        }
        let (from_hash, to_hash) = (self.names.session(from), self.names.session(to));
        let (from_member, to_member) = (layout::member(from), layout::member(to));
        let now_text = now.as_millis().to_string();
        let change_args = layout::change_args(changes);
        let until = forward_until(changes);
        let (script, limit) = match limited {
            Some((user, limit)) => (
                &SCRIPTS.rotate_limited,
                limit_args(user, limit, now, &[&from_member, &to_member]),
            ),
            None => (&SCRIPTS.rotate, Vec::new()),
        };
        let mut evalsha = self.evalsha(script, &[&from_hash, &to_hash]);
        evalsha
            .arg(&from_member)
            .arg(&to_member)
            .arg(&now_text)
            .arg(&until)
            .arg(forward_sealed(changes))
            .arg(&change_args)
            .arg(&limit);
        let outcome: i64 = self
            .bounded("rotate", self.run_script(script, &evalsha))
            .await?;
        Ok(match outcome {
            1 => RotateOutcome::Rotated,
            2 => RotateOutcome::Collision,
            3 => RotateOutcome::Refused,
            _ => RotateOutcome::Gone,
        })
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let hash = self.names.session(key);
        let mut evalsha = self.evalsha(&SCRIPTS.increment, &[&hash]);
        // Numbers go into the command buffer as decimal text, with no string of their own.
        evalsha
            .arg(now.as_millis())
            .arg(format!("{DATA}{field}"))
            .arg(by)
            .arg(touch.last_seen.as_millis())
            .arg(touch.idle_deadline.as_millis());
        // The value comes back as an integer reply (a sum the script computed) or as decimal
        // text (the first value, or a large sum read back with HGET).
        let (status, value): (i64, Value) = self
            .bounded("increment", self.run_script(&SCRIPTS.increment, &evalsha))
            .await?;
        match status {
            1 => i64::from_redis_value(&value)
                .map(IncrementOutcome::Value)
                .map_err(|_| {
                    StoreError::Backend(
                        format!("increment returned {value:?}, not an integer").into(),
                    )
                }),
            2 => Ok(IncrementOutcome::NotAnInteger),
            _ => Ok(IncrementOutcome::Gone),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let hash = self.names.session(key);
        let member = layout::member(key);
        self.bounded("delete", async {
            let (existed, had_user, user): (i64, String, String) =
                self.script(&SCRIPTS.delete, &[&hash], &[&member]).await?;
            if !self.indexed() {
                let user = (had_user == "1").then_some(user.as_str());
                self.unindex_after_write(&member, user).await?;
            }
            Ok(existed == 1)
        })
        .await
    }

    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, StoreError> {
        let index = self.names.user_index(user);
        let after = cursor.map(UserCursor::parse).transpose()?;
        let (after_score, after_member) = after
            .map(|after| (after.at.as_millis().to_string(), layout::member(&after.key)))
            .unwrap_or_default();
        let limit = limit.clamp(1, MAX_USER_PAGE);
        let entries: Vec<(String, i64)> = self
            .bounded(
                "list_user_sessions",
                self.script(
                    &SCRIPTS.user_members,
                    &[&index],
                    &[&after_score, &after_member, &limit.to_string()],
                ),
            )
            .await?;
        // The cursor is the last index entry read, live or not: a dead session's entry still
        // marks where the page ended.
        let next = (entries.len() >= limit as usize)
            .then(|| entries.last())
            .flatten()
            .and_then(|(member, score)| {
                StoreKey::from_hex(member)
                    .map(|key| UserCursor::new(Timestamp::from_millis(*score), key).to_string())
            });
        let members = entries.into_iter().map(|(member, _)| member).collect();
        let sessions = tokio::time::timeout(self.timeout, self.summaries(user, members, now))
            .await
            .map_err(|_| timed_out(self.timeout, "list_user_sessions"))??;
        Ok(UserSessionsPage::new(sessions, next))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let index = self.names.user_index(user);
        let keep = keep.map(layout::member).unwrap_or_default();
        if self.indexed() {
            let count: u64 = self
                .bounded(
                    "delete_user_sessions",
                    self.script(&SCRIPTS.delete_user_sessions, &[&index], &[user, &keep]),
                )
                .await?;
            return Ok(count);
        }
        self.bounded("delete_user_sessions", async {
            let members: Vec<String> = self
                .query(Cmd::new().arg("ZRANGE").arg(&index).arg(0).arg(-1))
                .await?;
            let doomed: Vec<&String> = members.iter().filter(|member| **member != keep).collect();
            self.delete_members_of_user(user, &doomed).await
        })
        .await
    }

    /// The expiry index in (absolute deadline, key) order, the cursor being the last entry's
    /// score and member. Redis drops a hash at its deadline, so a scan reports the sessions
    /// Redis still holds; one touched or written meanwhile keeps its entry, and so its place.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        tokio::time::timeout(self.timeout, self.scan_page(cursor, limit))
            .await
            .map_err(|_| timed_out(self.timeout, "scan"))?
    }

    /// `ZCOUNT` of the expiry index past `now`: one command on one key, whatever the mode. The
    /// index scores a session by its absolute deadline, so one that ended by idleness (Redis
    /// already dropped its hash) or, on a Cluster, one whose write failed after its entry was
    /// added, counts until that deadline: an upper bound, never a miss.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut zcount = Cmd::new();
        zcount
            .arg("ZCOUNT")
            .arg(self.names.expiry_index())
            .arg(format!("({}", now.as_millis()))
            .arg("+inf");
        self.bounded("count_live", self.query::<u64>(&zcount)).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let expiry = self.names.expiry_index();
        let now_text = now.as_millis().to_string();
        if self.indexed() {
            let limit = limit.to_string();
            return self
                .bounded(
                    "delete_expired",
                    self.script(&SCRIPTS.delete_expired, &[&expiry], &[&now_text, &limit]),
                )
                .await;
        }
        self.bounded("delete_expired", async {
            let mut count: u64 = 0;
            while count < u64::from(limit) {
                let candidates: Vec<String> = self
                    .query(
                        Cmd::new()
                            .arg("ZRANGEBYSCORE")
                            .arg(&expiry)
                            .arg("-inf")
                            .arg(&now_text)
                            .arg("LIMIT")
                            .arg(0)
                            .arg(u64::from(limit) - count),
                    )
                    .await?;
                if candidates.is_empty() {
                    break;
                }
                let now_text = now_text.as_str();
                let checks = candidates.iter().map(|member| async move {
                    let hash = self.names.session_of_member(member);
                    self.script::<(i64, String, String, String)>(
                        &SCRIPTS.delete_if_expired,
                        &[&hash],
                        &[now_text],
                    )
                    .await
                });
                for (member, check) in candidates.iter().zip(join_all(checks).await) {
                    let (removed, had_user, user, absolute) = check?;
                    if removed == 1 {
                        count += 1;
                        let user = (had_user == "1").then_some(user.as_str());
                        self.unindex_after_write(member, user).await?;
                    } else {
                        // Live after all (its entry was scored too early): score it right.
                        self.query::<i64>(
                            Cmd::new()
                                .arg("ZADD")
                                .arg(&expiry)
                                .arg(&absolute)
                                .arg(member),
                        )
                        .await?;
                    }
                }
            }
            Ok(count)
        })
        .await
    }
}

/// Cluster: the turns this process's sign-ins under a per-user limit take before asking Redis
/// for the user's lease, one FIFO mutex per stripe of users. Waiting here costs Redis nothing;
/// only one sign-in per user and process at a time asks for the lease, so concurrent sign-ins of
/// one user through one store do not poll Redis while they wait (and rarely wait there at all).
struct SignInTurns([tokio::sync::Mutex<()>; SIGN_IN_STRIPES]);

/// How many stripes [`SignInTurns`] holds: users sharing one only take turns in this process.
const SIGN_IN_STRIPES: usize = 64;

impl Default for SignInTurns {
    fn default() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl SignInTurns {
    fn of(&self, user: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(user);
        &self.0[(hash % SIGN_IN_STRIPES as u64) as usize]
    }
}

/// What a sign-in under a per-user limit needs before it is counted at all (else its write
/// answers `Gone` or `Collision` by itself, and nothing is refused or evicted): the session it
/// signs in live, the key it writes free; and the keys the count skips.
struct SignInNeeds<'a> {
    live: Option<&'a StoreKey>,
    free: Option<&'a StoreKey>,
    skip: &'a [&'a StoreKey],
}

/// What a session's hash holds, as a sign-in's write would judge it.
#[derive(PartialEq)]
enum HashState {
    /// Nothing, or a record dead at `now`: a create or rotation may write there.
    Free,
    Live,
    /// A forward pointer or unreadable deadlines: no session, but no write goes there either.
    Held,
}

/// Cluster: a user's sessions live in as many slots as they have sessions, so no script sees
/// them all. A sign-in under the user's limit therefore holds the user's lease (one key in the
/// slot of the user's index) while it counts, decides, writes and evicts; every limited sign-in
/// of the user takes the same lease, so they happen one after another. Taking the lease reads
/// the index in the same script, and giving it back removes the evicted entries in the same
/// script: the turn costs no round trip of its own.
impl RedisStore {
    /// Runs `write` (answering its outcome and whether it wrote) under `user`'s lease, once the
    /// limit admits it, then deletes the sessions the limit evicts; answers `refused` without
    /// writing when the limit refuses. The whole call is bounded by the statement timeout, and
    /// the lease lapses after that same time, so a holder that never gives it back (timed out,
    /// dropped, crashed) blocks the user's next sign-ins at most that long.
    #[allow(clippy::too_many_arguments)]
    async fn under_lease<T>(
        &self,
        what: &str,
        user: &str,
        limit: &UserLimit,
        now: Timestamp,
        needs: SignInNeeds<'_>,
        refused: T,
        write: impl Future<Output = Result<(T, bool), StoreError>>,
    ) -> Result<T, StoreError> {
        let lease = self.names.user_lease(user);
        let index = self.names.user_index(user);
        let token = layout::member(&sessile::SessionId::generate().store_key());
        bounded_store(self.timeout, what, async {
            let _turn = self.turns.of(user).lock().await;
            let members = self.take_lease(&lease, &index, &token).await?;
            let mut evicted = Vec::new();
            let outcome = self
                .sign_in_holding_lease(
                    user,
                    limit,
                    now,
                    members,
                    needs,
                    refused,
                    write,
                    &mut evicted,
                )
                .await;
            let mut release = self.evalsha(&SCRIPTS.release_lease, &[&lease, &index]);
            release.arg(&token).arg(&evicted);
            let expiry_rem = async {
                if evicted.is_empty() {
                    return Ok(0);
                }
                let mut zrem = Cmd::new();
                zrem.arg("ZREM")
                    .arg(self.names.expiry_index())
                    .arg(&evicted);
                self.query::<i64>(&zrem).await
            };
            let (released, expiry_rem) = tokio::join!(
                self.run_script::<i64>(&SCRIPTS.release_lease, &release),
                expiry_rem
            );
            let outcome = outcome?;
            released.map_err(store_error)?;
            expiry_rem.map_err(store_error)?;
            Ok(outcome)
        })
        .await
    }

    /// Takes the lease, waiting a little longer each time it is held (with jitter, so waiters
    /// do not retry in step; with many waiters one of them retries soon after it is given
    /// back). The caller's timeout bounds the wait. Answers the user's index members.
    async fn take_lease(
        &self,
        lease: &str,
        index: &str,
        token: &str,
    ) -> Result<Vec<String>, StoreError> {
        use std::hash::{BuildHasher, Hasher};
        let lapses_after = u64::try_from(self.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut take = self.evalsha(&SCRIPTS.take_lease, &[lease, index]);
        take.arg(token).arg(lapses_after);
        let mut wait = Duration::from_micros(500);
        loop {
            let members: Option<Vec<String>> = self
                .run_script(&SCRIPTS.take_lease, &take)
                .await
                .map_err(store_error)?;
            if let Some(members) = members {
                return Ok(members);
            }
            // A fresh RandomState is seeded differently each time: a cheap jitter in [0.5, 1.5).
            let jitter = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish() as f64
                / u64::MAX as f64;
            tokio::time::sleep(wait.mul_f64(0.5 + jitter)).await;
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }

    /// The turn itself: whether the write would go through at all (else it answers `Gone` or
    /// `Collision` by itself and nothing is refused or evicted), the user's other live sessions
    /// (read in the same round trip), the decision, the write, and the evicted sessions' hashes
    /// deleted; their index entries go when the lease is given back (`evicted`).
    #[allow(clippy::too_many_arguments)]
    async fn sign_in_holding_lease<T>(
        &self,
        user: &str,
        limit: &UserLimit,
        now: Timestamp,
        members: Vec<String>,
        needs: SignInNeeds<'_>,
        refused: T,
        write: impl Future<Output = Result<(T, bool), StoreError>>,
        evicted: &mut Vec<String>,
    ) -> Result<T, StoreError> {
        let live = async {
            match needs.live {
                Some(key) => Ok(self.hash_state(key, now).await? == HashState::Live),
                None => Ok(true),
            }
        };
        let free = async {
            match needs.free {
                Some(key) => Ok(self.hash_state(key, now).await? == HashState::Free),
                None => Ok(true),
            }
        };
        let (live, free, others) =
            tokio::join!(live, free, self.live_others(user, members, needs.skip, now));
        if !(live.map_err(store_error)? && free.map_err(store_error)?) {
            return Ok(write.await?.0);
        }
        match limit.decide(others?) {
            LimitDecision::Refuse => Ok(refused),
            LimitDecision::Admit { evict } => {
                let (outcome, wrote) = write.await?;
                if !wrote || evict.is_empty() {
                    return Ok(outcome);
                }
                let deletions = evict.iter().map(|key| async move {
                    let hash = self.names.session(key);
                    self.script::<i64>(&SCRIPTS.delete_if_user, &[&hash], &[user])
                        .await
                });
                for (key, deleted) in evict.iter().zip(join_all(deletions).await) {
                    deleted.map_err(store_error)?;
                    evicted.push(layout::member(key));
                }
                Ok(outcome)
            }
        }
    }

    async fn hash_state(&self, key: &StoreKey, now: Timestamp) -> Result<HashState, RedisError> {
        let mut hmget = Cmd::new();
        hmget.arg("HMGET").arg(self.names.session(key)).arg(&[
            "m:idle_deadline",
            "m:absolute_deadline",
            "f:to",
        ]);
        let values: Vec<Option<String>> = self.query(&hmget).await?;
        let millis = |value: &Option<String>| value.as_deref()?.parse::<i64>().ok();
        Ok(match &values[..] {
            [None, None, None] => HashState::Free,
            [idle, absolute, None] => match (millis(idle), millis(absolute)) {
                (Some(idle), Some(absolute)) if idle.min(absolute) > now.as_millis() => {
                    HashState::Live
                }
                (Some(_), Some(_)) => HashState::Free,
                _ => HashState::Held,
            },
            _ => HashState::Held,
        })
    }

    /// `user`'s sessions live at `now` other than `skip`, as `(last_seen, key)`: the index's
    /// `members`, each checked against its hash (user and both deadlines).
    async fn live_others(
        &self,
        user: &str,
        members: Vec<String>,
        skip: &[&StoreKey],
        now: Timestamp,
    ) -> Result<Vec<(Timestamp, StoreKey)>, StoreError> {
        let keys: Vec<StoreKey> = members
            .iter()
            .filter_map(|member| StoreKey::from_hex(member))
            .filter(|key| !skip.contains(&key))
            .collect();
        let reads = keys.iter().map(|key| async move {
            let mut hmget = Cmd::new();
            hmget
                .arg("HMGET")
                .arg(self.names.session(key))
                .arg(&SUMMARY_FIELDS[..]);
            self.query::<Vec<Option<Vec<u8>>>>(&hmget).await
        });
        let reads = join_all(reads).await;
        let mut others = Vec::new();
        for (key, read) in keys.into_iter().zip(reads) {
            match layout::summary_fields(read.map_err(store_error)?) {
                Ok(Some(fields))
                    if fields.user.as_deref() == Some(user) && now < fields.expires_at =>
                {
                    others.push((fields.last_seen, key));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(session = %key.log_tag(), %error, "not counting a corrupt session against its user's limit");
                }
            }
        }
        Ok(others)
    }

    /// Cluster: deletes the sessions `doomed` that still belong to `user` (their hashes, each in
    /// its own slot, then their entries in both indexes). How many were deleted.
    async fn delete_members_of_user(
        &self,
        user: &str,
        doomed: &[&String],
    ) -> Result<u64, RedisError> {
        let index = self.names.user_index(user);
        let deletions = doomed.iter().map(|member| async move {
            let hash = self.names.session_of_member(member);
            self.script::<i64>(&SCRIPTS.delete_if_user, &[&hash], &[user])
                .await
        });
        let mut count = 0;
        let mut deleted_members = Vec::new();
        for (member, deleted) in doomed.iter().zip(join_all(deletions).await) {
            if deleted? == 1 {
                count += 1;
                deleted_members.push(member.as_str());
            }
        }
        if !doomed.is_empty() {
            self.query::<i64>(Cmd::new().arg("ZREM").arg(&index).arg(doomed))
                .await?;
        }
        if !deleted_members.is_empty() {
            self.query::<i64>(
                Cmd::new()
                    .arg("ZREM")
                    .arg(self.names.expiry_index())
                    .arg(&deleted_members),
            )
            .await?;
        }
        Ok(count)
    }
}

/// The user and limit of a change set that signs a user in under a per-user limit.
fn limited_sign_in(changes: &ChangeSet) -> Option<(&str, &UserLimit)> {
    match (&changes.user, &changes.user_limit) {
        (Some(Some(user)), Some(limit)) => Some((user.as_str(), limit)),
        _ => None,
    }
}

/// The arguments `take_limit` (`lua/limit.lua`) reads after a standalone script's own: the
/// user, the most sessions, the policy (`1` evicts, `0` refuses), `now`, the members the count
/// skips (the session signing in; a rotation's old and new key), then how many of those.
fn limit_args(user: &str, limit: &UserLimit, now: Timestamp, skip: &[&str]) -> Vec<String> {
    let evicts = matches!(limit.policy, LimitPolicy::EvictLeastRecentlyUsed);
    let mut args = Vec::with_capacity(5 + skip.len());
    args.push(user.to_owned());
    args.push(limit.max.to_string());
    args.push(layout::flag(evicts).to_owned());
    args.push(now.as_millis().to_string());
    args.extend(skip.iter().map(|member| (*member).to_owned()));
    args.push(skip.len().to_string());
    args
}

/// The answer to a rotation carrying document operations, which the rotate script does not
/// apply: the engine resolves them against the record it loaded first
/// ([`ChangeSet::resolve_operations`]).
fn rotation_takes_no_operations() -> StoreError {
    StoreError::Unsupported(
        "a rotation's change set carries no document operations: resolve them first \
         (ChangeSet::resolve_operations)",
    )
}

/// The forward pointer's deadline a rotation passes its script ('' for none).
fn forward_until(changes: &ChangeSet) -> String {
    changes
        .forward
        .as_ref()
        .map(|forward| forward.until.as_millis().to_string())
        .unwrap_or_default()
}

/// The forward pointer's sealed id a rotation passes its script (empty for none).
fn forward_sealed(changes: &ChangeSet) -> &[u8] {
    changes
        .forward
        .as_ref()
        .map_or(&[][..], |forward| forward.sealed_id.as_slice())
}
