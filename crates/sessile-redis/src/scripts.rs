//! The Lua scripts behind every store operation: each runs atomically on the node that owns its
//! first key.
//!
//! Every script starts with [`PRELUDE`] and takes `ARGV[1]` = key prefix and `ARGV[2]` = `'1'`
//! when the script keeps the expiry and per-user indexes itself (standalone) or `'0'` when the
//! indexes live in other slots and the Rust side keeps them with separate calls (Cluster). In
//! standalone mode the index keys are derived inside the script from the prefix; Redis runs such
//! scripts on a single server, and they are never sent with `ARGV[2] = '1'` to a Cluster.
//!
//! A session hash holds `d:<key>` fields (JSON values) and `m:<name>` metadata fields, so no data
//! key can collide with metadata. Deadlines are decimal milliseconds; Lua numbers are doubles,
//! exact for every millisecond timestamp up to the year 287396, and the scripts write back the
//! original decimal text rather than formatting numbers.

use std::sync::LazyLock;

use redis::Script;

/// Helpers shared by every script.
const PRELUDE: &str = r#"
local prefix = ARGV[1]
local indexed = ARGV[2] == '1'

local function session_key(member) return prefix .. '{' .. member .. '}' end
local function user_key(user) return prefix .. 'user:{' .. user .. '}' end
local function expiry_key() return prefix .. 'expiry' end

-- The hash's deadlines, or nil when it is missing or its deadlines are unreadable.
local function deadlines(hash)
  local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline')
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

local function server_millis()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Index keys live as long as the longest absolute deadline they index, never shorter.
local function extend_ttl(key, at_text)
  local at = tonumber(at_text)
  if at <= server_millis() then return end
  local current = redis.call('PEXPIRETIME', key)
  if current == -1 or current < at then redis.call('PEXPIREAT', key, at_text) end
end

-- Calls `command hash item...` in slices: Lua's unpack has a stack limit.
local function chunked(command, hash, items)
  for first = 1, #items, 256 do
    redis.call(command, hash, unpack(items, first, math.min(first + 255, #items)))
  end
end

local function index_session(member, user, score_text, absolute_text)
  redis.call('ZADD', expiry_key(), score_text, member)
  extend_ttl(expiry_key(), absolute_text)
  if user then
    redis.call('ZADD', user_key(user), score_text, member)
    extend_ttl(user_key(user), absolute_text)
  end
end

local function unindex_session(member, user)
  redis.call('ZREM', expiry_key(), member)
  if user then redis.call('ZREM', user_key(user), member) end
end

-- Applies a change set encoded from ARGV[at] on (see `ChangeArgs` in store.rs) to a live hash.
-- Returns the user before, the user after and the new expiry as decimal text.
local function apply_changes(hash, at, dl)
  local old_user = redis.call('HGET', hash, 'm:user')
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
  chunked('HSET', hash, sets)
  local removes = {}
  for i = first_set + 2 * set_count, #ARGV do removes[#removes + 1] = ARGV[i] end
  chunked('HDEL', hash, removes)

  local new_user = old_user
  if ARGV[at + 3] == '1' then
    new_user = ARGV[at + 4]
    redis.call('HSET', hash, 'm:user', new_user)
  elseif ARGV[at + 3] == '2' then
    new_user = false
    redis.call('HDEL', hash, 'm:user')
  end
  if ARGV[at + 5] ~= '' then redis.call('HSET', hash, 'm:persistent', ARGV[at + 5]) end
  if ARGV[at + 6] ~= '' then redis.call('HSET', hash, 'm:device', ARGV[at + 6]) end

  local expires_text = dl.expires_text
  if ARGV[at + 1] ~= '' then
    local idle_text = ARGV[at + 2]
    if tonumber(idle_text) > dl.absolute then idle_text = dl.absolute_text end
    redis.call('HSET', hash, 'm:last_seen', ARGV[at + 1], 'm:idle_deadline', idle_text)
    expires_text = idle_text
    redis.call('PEXPIREAT', hash, expires_text)
  end
  redis.call('HINCRBY', hash, 'm:rev', 1)
  return old_user, new_user, expires_text
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
  local dl = deadlines(hash)
  -- An unreadable record counts as live: create never overwrites what it cannot judge.
  if not dl or dl.expires > now then return 0 end
  if indexed then unindex_session(member, redis.call('HGET', hash, 'm:user')) end
  redis.call('DEL', hash)
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
chunked('HSET', hash, fields)
redis.call('PEXPIREAT', hash, expires_text)
if indexed then index_session(member, user, expires_text, absolute_text) end
return 1
"#;

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, change set. Returns
/// `{applied (0/1), had_user ('0'/'1'), old_user}`.
const UPDATE: &str = r#"
local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local dl = deadlines(hash)
if not dl or dl.expires <= now then return {0, '0', ''} end
local old_user, new_user, expires_text = apply_changes(hash, 5, dl)
if indexed then
  unindex_session(member, old_user)
  index_session(member, new_user, expires_text, dl.absolute_text)
end
if old_user then return {1, '1', old_user} end
return {1, '0', ''}
"#;

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, field, by, touch last_seen, touch idle
/// deadline. Returns `{0}` gone, `{2}` not an integer (nothing written), `{1, value}` applied.
const INCREMENT: &str = r#"
local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local field, by = ARGV[5], ARGV[6]
local dl = deadlines(hash)
if not dl or dl.expires <= now then return {0, ''} end
local current = redis.call('HGET', hash, field)
if not current or current == 'null' then
  redis.call('HSET', hash, field, by)
else
  -- A JSON integer is its decimal text; anything else (string, fraction, exponent) is refused.
  if not string.match(current, '^%-?%d+$') then return {2, ''} end
  local result = redis.pcall('HINCRBY', hash, field, by)
  if type(result) == 'table' and result.err then return {2, ''} end
end
local value = redis.call('HGET', hash, field)
local idle_text = ARGV[8]
if tonumber(idle_text) > dl.absolute then idle_text = dl.absolute_text end
redis.call('HSET', hash, 'm:last_seen', ARGV[7], 'm:idle_deadline', idle_text)
redis.call('PEXPIREAT', hash, idle_text)
redis.call('HINCRBY', hash, 'm:rev', 1)
if indexed then
  local user = redis.call('HGET', hash, 'm:user')
  unindex_session(member, user)
  index_session(member, user, idle_text, dl.absolute_text)
end
return {1, value}
"#;

/// Standalone only. `KEYS[1]` = from, `KEYS[2]` = to; `ARGV[3..]` = from member, to member, now,
/// change set. Returns 1 rotated, 0 gone, 2 collision.
const ROTATE: &str = r#"
local from, to = KEYS[1], KEYS[2]
local from_member, to_member, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
local dl = deadlines(from)
if not dl or dl.expires <= now then return 0 end
if redis.call('EXISTS', to) == 1 then
  local target = deadlines(to)
  if not target or target.expires > now then return 2 end
  unindex_session(to_member, redis.call('HGET', to, 'm:user'))
  redis.call('DEL', to)
end
local old_user, new_user, expires_text = apply_changes(from, 6, dl)
-- RENAME keeps the PEXPIREAT deadline.
redis.call('RENAME', from, to)
unindex_session(from_member, old_user)
index_session(to_member, new_user, expires_text, dl.absolute_text)
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

/// `KEYS[1]` = user index. Drops entries whose score (an upper bound of the session's expiry)
/// has passed on the server's clock, then returns the remaining members.
const USER_MEMBERS: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', server_millis())
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
/// many expired sessions were removed (hash and index entries).
const DELETE_EXPIRED: &str = r#"
local now, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local count = 0
while count < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, limit - count)
  if #batch == 0 then break end
  for _, member in ipairs(batch) do
    local hash = session_key(member)
    local dl = deadlines(hash)
    if dl and dl.expires > now then
      redis.call('ZADD', KEYS[1], dl.expires_text, member)
    else
      unindex_session(member, redis.call('HGET', hash, 'm:user'))
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
local dl = deadlines(hash)
if dl and dl.expires > now then return {0, '0', '', dl.absolute_text} end
local user = redis.call('HGET', hash, 'm:user')
redis.call('DEL', hash)
if user then return {1, '1', user, ''} end
return {1, '0', '', ''}
"#;

/// The compiled scripts (their SHA1 digests are computed once).
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

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    create: with_prelude(CREATE),
    update: with_prelude(UPDATE),
    increment: with_prelude(INCREMENT),
    rotate: with_prelude(ROTATE),
    delete: with_prelude(DELETE),
    user_members: with_prelude(USER_MEMBERS),
    delete_user_sessions: with_prelude(DELETE_USER_SESSIONS),
    delete_expired: with_prelude(DELETE_EXPIRED),
    index_add: with_prelude(INDEX_ADD),
    delete_if_unchanged: with_prelude(DELETE_IF_UNCHANGED),
    delete_if_user: with_prelude(DELETE_IF_USER),
    delete_if_expired: with_prelude(DELETE_IF_EXPIRED),
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
