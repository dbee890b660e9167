//! The Lua scripts behind every store operation: each runs atomically on the node that owns its
//! first key.
//!
//! Every script takes `ARGV[1]` = key prefix and `ARGV[2]` = `'1'` when the script keeps the
//! expiry and per-user indexes itself (standalone) or `'0'` when the indexes live in other slots
//! and the Rust side keeps them with separate calls (Cluster). In standalone mode the index keys
//! are derived inside the script from the prefix; Redis runs such scripts on a single server,
//! and they are never sent with `ARGV[2] = '1'` to a Cluster.
//!
//! A session hash holds `d:<key>` fields (JSON values) and `m:<name>` metadata fields, so no data
//! key can collide with metadata. Deadlines are decimal milliseconds; Lua numbers are doubles,
//! exact for every millisecond timestamp up to the year 287396, and the scripts write back the
//! original decimal text rather than formatting numbers.
//!
//! The hot scripts (`update`, `increment`) are kept to the fewest commands inside Redis: one
//! `HMGET` of exactly the fields the liveness check and the write need, one `HSET` with every
//! field, `PEXPIREAT` only when the expiry moved, and no index write unless the user changed
//! (both indexes are scored by the absolute deadline, which never moves). Each script also
//! carries only the Lua helpers it calls: Redis runs a script's whole body on every call, so
//! every `local function` in it is a closure built per call.

use std::sync::LazyLock;

use redis::Script;

/// The two arguments every script takes.
const COMMON: &str = r#"
local prefix = ARGV[1]
local indexed = ARGV[2] == '1'
"#;

/// Key names derived from the prefix (standalone only: they may live in other slots).
const KEY_NAMES: &str = r#"
local function session_key(member) return prefix .. '{' .. member .. '}' end
local function user_key(user) return prefix .. 'user:{' .. user .. '}' end
local function expiry_key() return prefix .. 'expiry' end
"#;

/// Reading a hash's deadlines.
const DEADLINES: &str = r#"
-- The deadlines from the first two values of an HMGET of 'm:idle_deadline',
-- 'm:absolute_deadline', or nil when the hash is missing or its deadlines are unreadable.
local function parse_deadlines(stored)
  local idle, absolute = tonumber(stored[1]), tonumber(stored[2])
  if not idle or not absolute then return nil end
  local expires_text = stored[1]
  if absolute < idle then expires_text = stored[2] end
  return {
    expires = math.min(idle, absolute),
    expires_text = expires_text,
    absolute = absolute,
    absolute_text = stored[2],
  }
end

local function deadlines(hash)
  return parse_deadlines(redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline'))
end
"#;

/// Keeping an index key alive.
const INDEX_TTL: &str = r#"
local function server_millis()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Index keys live as long as the longest absolute deadline they index, never shorter. The
-- clock is read only when the TTL would change: a deadline already past must not delete the key.
local function extend_ttl(key, at_text)
  local at = tonumber(at_text)
  local current = redis.call('PEXPIRETIME', key)
  if current >= 0 and current >= at then return end
  if at <= server_millis() then return end
  redis.call('PEXPIREAT', key, at_text)
end
"#;

/// Adding and removing index entries (standalone). Entries are scored by the session's absolute
/// deadline, which never moves, so a touch needs no index write.
const INDEXES: &str = r#"
local function index_user(member, user, absolute_text)
  redis.call('ZADD', user_key(user), absolute_text, member)
  extend_ttl(user_key(user), absolute_text)
end

local function index_session(member, user, absolute_text)
  redis.call('ZADD', expiry_key(), absolute_text, member)
  extend_ttl(expiry_key(), absolute_text)
  if user then index_user(member, user, absolute_text) end
end

local function unindex_session(member, user)
  redis.call('ZREM', expiry_key(), member)
  if user then redis.call('ZREM', user_key(user), member) end
end
"#;

/// Variadic commands over long lists.
const CHUNKED: &str = r#"
-- Calls `command hash item...` in slices: Lua's unpack has a stack limit. The slice length is
-- even, so field/value pairs never straddle two calls.
local function chunked(command, hash, items)
  for first = 1, #items, 256 do
    redis.call(command, hash, unpack(items, first, math.min(first + 255, #items)))
  end
end

"#;

/// The write counter `m:rev`, kept in Cluster mode only (where rotation compares it).
const REVISION: &str = r#"
-- The next write counter after `revision`.
local function next_revision(revision)
  return string.format('%d', (tonumber(revision) or 0) + 1)
end
"#;

/// Applying a change set.
const APPLY_CHANGES: &str = r#"
-- Applies a change set encoded from ARGV[at] on (see `ChangeArgs` in store.rs) to a live hash
-- whose deadlines, user and (Cluster) write counter were read before: one HSET of every set
-- field and metadata field, one HDEL of every removed one, PEXPIREAT only when the expiry
-- moved. Returns the user after the change (false for none).
local function apply_changes(hash, at, dl, old_user, revision)
  if ARGV[at] == '1' then
    local doomed = {}
    for _, field in ipairs(redis.call('HKEYS', hash)) do
      if string.sub(field, 1, 2) == 'd:' then doomed[#doomed + 1] = field end
    end
    chunked('HDEL', hash, doomed)
  end
  local set_count = tonumber(ARGV[at + 7])
  local first_set = at + 8
  local sets = {}
  for i = first_set, first_set + 2 * set_count - 1 do sets[#sets + 1] = ARGV[i] end
  local removes = {}
  for i = first_set + 2 * set_count, #ARGV do removes[#removes + 1] = ARGV[i] end

  local new_user = old_user
  if ARGV[at + 3] == '1' then
    new_user = ARGV[at + 4]
    sets[#sets + 1] = 'm:user'
    sets[#sets + 1] = new_user
  elseif ARGV[at + 3] == '2' then
    new_user = false
    removes[#removes + 1] = 'm:user'
  end
  if ARGV[at + 5] ~= '' then
    sets[#sets + 1] = 'm:persistent'
    sets[#sets + 1] = ARGV[at + 5]
  end
  if ARGV[at + 6] ~= '' then
    sets[#sets + 1] = 'm:device'
    sets[#sets + 1] = ARGV[at + 6]
  end
  local expires_text = dl.expires_text
  if ARGV[at + 1] ~= '' then
    local idle_text = ARGV[at + 2]
    if tonumber(idle_text) > dl.absolute then idle_text = dl.absolute_text end
    sets[#sets + 1] = 'm:last_seen'
    sets[#sets + 1] = ARGV[at + 1]
    sets[#sets + 1] = 'm:idle_deadline'
    sets[#sets + 1] = idle_text
    expires_text = idle_text
  end
  if not indexed then
    sets[#sets + 1] = 'm:rev'
    sets[#sets + 1] = next_revision(revision)
  end
  chunked('HSET', hash, sets)
  chunked('HDEL', hash, removes)
  if expires_text ~= dl.expires_text then redis.call('PEXPIREAT', hash, expires_text) end
  return new_user
end
"#;

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, expires_at, absolute, has_user, user, then the
/// field/value pairs. Returns 1 (created) or 0 (a live record holds the key).
const CREATE: &str = r#"
local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local expires_text, absolute_text = ARGV[5], ARGV[6]
local user = false
if ARGV[7] == '1' then user = ARGV[8] end
if redis.call('EXISTS', hash) == 1 then
  local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
  local dl = parse_deadlines(stored)
  -- An unreadable record counts as live: create never overwrites what it cannot judge.
  if not dl or dl.expires > now then return 0 end
  if indexed then unindex_session(member, stored[3]) end
  redis.call('DEL', hash)
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
chunked('HSET', hash, fields)
redis.call('PEXPIREAT', hash, expires_text)
if indexed then index_session(member, user, absolute_text) end
return 1
"#;

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, change set. Returns
/// `{applied (0/1), had_user ('0'/'1'), old_user}`.
const UPDATE: &str = r#"
local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local stored
if indexed then
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
else
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user', 'm:rev')
end
local dl = parse_deadlines(stored)
if not dl or dl.expires <= now then return {0, '0', ''} end
local old_user = stored[3]
local new_user = apply_changes(hash, 5, dl, old_user, stored[4])
if indexed and new_user ~= old_user then
  if old_user then redis.call('ZREM', user_key(old_user), member) end
  if new_user then index_user(member, new_user, dl.absolute_text) end
end
if old_user then return {1, '1', old_user} end
return {1, '0', ''}
"#;

/// `KEYS[1]` = session; `ARGV[3..]` = now, field, by, touch last_seen, touch idle deadline.
/// Returns `{0, ''}` gone, `{2, ''}` not an integer (nothing written), `{1, value}` applied, the
/// value an integer reply (a sum below 2 * 10^15) or its decimal text.
///
/// The hottest script, so it converts no text to numbers where it can avoid it (`tonumber` of a
/// timestamp costs Redis two `strtod` calls, ≈ 2,000 instructions, a sixth of the script's Lua
/// work): the deadlines, `now` and the touch are the decimal text of non-negative millisecond
/// counts without leading zeros (the crate writes nothing else), so a longer text is a later
/// time and texts of equal length compare as strings. The sum is handed to `HSET` as a number,
/// which Redis writes as exact integer text (`%.17g` and up, exact below 2^53); no
/// `string.format`. It needs no helper functions, which would be closures built on every call.
const INCREMENT: &str = r#"
local hash, now = KEYS[1], ARGV[3]
local field, by = ARGV[4], ARGV[5]
local stored
if indexed then
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', field)
else
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', field, 'm:rev')
end
local idle, absolute = stored[1], stored[2]
if not idle or not absolute then return {0, ''} end
local now_len, idle_len, absolute_len = #now, #idle, #absolute
if idle_len < now_len or (idle_len == now_len and idle <= now)
  or absolute_len < now_len or (absolute_len == now_len and absolute <= now) then
  return {0, ''}
end
-- The expiry Redis holds: the earlier deadline.
local expires_text = idle
if absolute_len < idle_len or (absolute_len == idle_len and absolute < idle) then
  expires_text = absolute
end
local idle_text = ARGV[7]
if #idle_text > absolute_len or (#idle_text == absolute_len and idle_text > absolute) then
  idle_text = absolute
end

local current, value = stored[3], nil
if not current or current == 'null' then
  value = by
-- Canonical decimal integers of at most 15 characters (`by` is Rust's decimal text of an i64):
-- their sum is exact in a double.
elseif #current <= 15 and #by <= 15
  and (current == '0' or string.find(current, '^%-?[1-9]%d*$')) then
  value = current + by
else
  -- A JSON integer is its decimal text; anything else (string, fraction, exponent) is refused.
  if not string.find(current, '^%-?%d+$') then return {2, ''} end
  -- Large values: HINCRBY refuses an overflow, and HGET reads the sum back as exact text
  -- (HINCRBY's own reply would become a double in Lua).
  local result = redis.pcall('HINCRBY', hash, field, by)
  if type(result) == 'table' and result.err then return {2, ''} end
  value = redis.call('HGET', hash, field)
end
if indexed then
  redis.call('HSET', hash, 'm:last_seen', ARGV[6], 'm:idle_deadline', idle_text, field, value)
else
  redis.call('HSET', hash, 'm:last_seen', ARGV[6], 'm:idle_deadline', idle_text, field, value,
    'm:rev', string.format('%d', (tonumber(stored[4]) or 0) + 1))
end
if idle_text ~= expires_text then redis.call('PEXPIREAT', hash, idle_text) end
return {1, value}
"#;

/// Standalone only. `KEYS[1]` = from, `KEYS[2]` = to; `ARGV[3..]` = from member, to member, now,
/// change set. Returns 1 rotated, 0 gone, 2 collision.
const ROTATE: &str = r#"
local from, to = KEYS[1], KEYS[2]
local from_member, to_member, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
local stored = redis.call('HMGET', from, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
local dl = parse_deadlines(stored)
if not dl or dl.expires <= now then return 0 end
if redis.call('EXISTS', to) == 1 then
  local target = deadlines(to)
  if not target or target.expires > now then return 2 end
  unindex_session(to_member, redis.call('HGET', to, 'm:user'))
  redis.call('DEL', to)
end
local old_user = stored[3]
local new_user = apply_changes(from, 6, dl, old_user, nil)
-- RENAME keeps the PEXPIREAT deadline.
redis.call('RENAME', from, to)
unindex_session(from_member, old_user)
index_session(to_member, new_user, dl.absolute_text)
return 1
"#;

/// `KEYS[1]` = session; `ARGV[3]` = member. Returns `{deleted (0/1), had_user, user}`.
const DELETE: &str = r#"
local hash, member = KEYS[1], ARGV[3]
local user = redis.call('HGET', hash, 'm:user')
local existed = redis.call('DEL', hash)
if indexed then unindex_session(member, user) end
if user then return {existed, '1', user} end
return {existed, '0', ''}
"#;

/// `KEYS[1]` = user index. Drops entries whose score (the session's absolute deadline) has
/// passed on the server's clock, then returns the remaining members.
///
/// Standalone checks each such entry against its hash first: an index written by the older
/// layout scored entries by the idle deadline, which touches no longer move, so a live session
/// behind a passed score is scored again by its absolute deadline instead of being dropped.
/// (Cluster indexes were always scored by the absolute deadline, and their hashes live in other
/// slots.)
const USER_MEMBERS: &str = r#"
local now = server_millis()
if indexed then
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
    local dl = deadlines(session_key(member))
    if dl and dl.expires > now then
      redis.call('ZADD', KEYS[1], dl.absolute_text, member)
    else
      redis.call('ZREM', KEYS[1], member)
    end
  end
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"#;

/// Standalone only. `KEYS[1]` = user index; `ARGV[3]` = user, `ARGV[4]` = member to keep or ''.
/// Returns how many sessions were deleted.
const DELETE_USER_SESSIONS: &str = r#"
local user, keep = ARGV[3], ARGV[4]
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= keep then
    local hash = session_key(member)
    -- A stale entry never deletes a session that belongs to someone else now.
    if redis.call('HGET', hash, 'm:user') == user then
      count = count + redis.call('DEL', hash)
      redis.call('ZREM', expiry_key(), member)
    end
    redis.call('ZREM', KEYS[1], member)
  end
end
return count
"#;

/// Standalone only. `KEYS[1]` = expiry index; `ARGV[3]` = now, `ARGV[4]` = limit. Returns how
/// many expired sessions were removed (index entries, with their hash if Redis still held it).
///
/// Entries are scored by the absolute deadline, so an entry comes up once that has passed; a
/// session that died of idleness earlier was already dropped by Redis (its `PEXPIREAT`), and
/// its entry is pruned here. An entry scored too early (a live session, such as one written
/// under the older expiry-scored layout) is scored again by its absolute deadline.
const DELETE_EXPIRED: &str = r#"
local now, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local count = 0
while count < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, limit - count)
  if #batch == 0 then break end
  for _, member in ipairs(batch) do
    local hash = session_key(member)
    local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
    local dl = parse_deadlines(stored)
    if dl and dl.expires > now then
      redis.call('ZADD', KEYS[1], dl.absolute_text, member)
    else
      unindex_session(member, stored[3])
      redis.call('DEL', hash)
      count = count + 1
    end
  end
end
return count
"#;

/// Cluster: `KEYS[1]` = an index; `ARGV[3..]` = member, score. Adds the entry and keeps the
/// index alive until the score.
const INDEX_ADD: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
extend_ttl(KEYS[1], ARGV[4])
return 1
"#;

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = revision read before. Deletes the hash only if no
/// write happened since. Returns 1 deleted, 0 gone, 2 changed meanwhile.
const DELETE_IF_UNCHANGED: &str = r#"
local hash = KEYS[1]
if redis.call('EXISTS', hash) == 0 then return 0 end
local revision = redis.call('HGET', hash, 'm:rev') or '0'
if revision ~= ARGV[3] then return 2 end
redis.call('DEL', hash)
return 1
"#;

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = user. Deletes the hash if it belongs to the user.
const DELETE_IF_USER: &str = r#"
if redis.call('HGET', KEYS[1], 'm:user') == ARGV[3] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = now. Deletes the hash unless it is live. Returns
/// `{removed (0/1), had_user, user, absolute deadline of a live hash}`.
const DELETE_IF_EXPIRED: &str = r#"
local hash, now = KEYS[1], tonumber(ARGV[3])
local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
local dl = parse_deadlines(stored)
if dl and dl.expires > now then return {0, '0', '', dl.absolute_text} end
local user = stored[3]
redis.call('DEL', hash)
if user then return {1, '1', user, ''} end
return {1, '0', '', ''}
"#;

/// The compiled scripts (their SHA1 digests are computed once, at first use).
pub(crate) struct Scripts {
    pub create: Script,
    pub update: Script,
    pub increment: Script,
    pub rotate: Script,
    pub delete: Script,
    pub user_members: Script,
    pub delete_user_sessions: Script,
    pub delete_expired: Script,
    pub index_add: Script,
    pub delete_if_unchanged: Script,
    pub delete_if_user: Script,
    pub delete_if_expired: Script,
}

/// One script: the common arguments, the helpers it calls (in dependency order), then its body.
fn compose(helpers: &[&str], body: &str) -> Script {
    let mut code = String::from(COMMON);
    for helper in helpers {
        code.push_str(helper);
    }
    code.push_str(body);
    Script::new(&code)
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let indexes: [&str; 3] = [KEY_NAMES, INDEX_TTL, INDEXES];
    let changes: [&str; 6] = [
        KEY_NAMES,
        INDEX_TTL,
        INDEXES,
        CHUNKED,
        REVISION,
        APPLY_CHANGES,
    ];
    Scripts {
        create: compose(&[&indexes[..], &[DEADLINES, CHUNKED]].concat(), CREATE),
        update: compose(&[&changes[..], &[DEADLINES]].concat(), UPDATE),
        increment: compose(&[], INCREMENT),
        rotate: compose(&[&changes[..], &[DEADLINES]].concat(), ROTATE),
        delete: compose(&indexes, DELETE),
        user_members: compose(&[KEY_NAMES, INDEX_TTL, DEADLINES], USER_MEMBERS),
        delete_user_sessions: compose(&[KEY_NAMES], DELETE_USER_SESSIONS),
        delete_expired: compose(&[&indexes[..], &[DEADLINES]].concat(), DELETE_EXPIRED),
        index_add: compose(&[INDEX_TTL], INDEX_ADD),
        delete_if_unchanged: compose(&[], DELETE_IF_UNCHANGED),
        delete_if_user: compose(&[], DELETE_IF_USER),
        delete_if_expired: compose(&[DEADLINES], DELETE_IF_EXPIRED),
    }
});

/// Every script, for loading them ahead of the first call.
pub(crate) fn all() -> [&'static Script; 12] {
    let s = &*SCRIPTS;
    [
        &s.create,
        &s.update,
        &s.increment,
        &s.rotate,
        &s.delete,
        &s.user_members,
        &s.delete_user_sessions,
        &s.delete_expired,
        &s.index_add,
        &s.delete_if_unchanged,
        &s.delete_if_user,
        &s.delete_if_expired,
    ]
}
