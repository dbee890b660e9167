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
//!
//! The Lua itself lives in `src/lua/*.lua` (one file per helper or script body, loaded with
//! `include_str!`, so an editor or `luacheck` sees plain Lua); this module says what each takes
//! and returns, and composes each script from its helpers. The Node layouts' scripts are in
//! `src/lua/node/`.

use std::sync::LazyLock;

use redis::Script;

/// The two arguments every script takes.
const COMMON: &str = include_str!("lua/common.lua");

/// Key names derived from the prefix (standalone only: they may live in other slots).
const KEY_NAMES: &str = include_str!("lua/key_names.lua");

/// Reading a hash's deadlines.
const DEADLINES: &str = include_str!("lua/deadlines.lua");

/// Keeping an index key alive.
const INDEX_TTL: &str = include_str!("lua/index_ttl.lua");

/// Adding and removing index entries (standalone). Entries are scored by the session's absolute
/// deadline, which never moves, so a touch needs no index write.
const INDEXES: &str = include_str!("lua/indexes.lua");

/// Variadic commands over long lists.
const CHUNKED: &str = include_str!("lua/chunked.lua");

/// The write counter `m:rev`, kept in Cluster mode only (where rotation compares it).
const REVISION: &str = include_str!("lua/revision.lua");

/// Applying a change set.
const APPLY_CHANGES: &str = include_str!("lua/apply_changes.lua");

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, expires_at, absolute, has_user, user, then the
/// field/value pairs. Returns 1 (created) or 0 (a live record holds the key).
const CREATE: &str = include_str!("lua/create.lua");

/// `KEYS[1]` = session; `ARGV[3..]` = member, now, change set. Returns
/// `{applied (0/1), had_user ('0'/'1'), old_user}`.
const UPDATE: &str = include_str!("lua/update.lua");

/// `UPDATE` for change sets with document operations: `ARGV[5]` = n, then n pairs of a data
/// field and its value when read ('0' absent, '1' + text), then the change set. Returns
/// `{2, '0', ''}` without writing when a field changed since it was read.
const UPDATE_CHECKED: &str = include_str!("lua/update_checked.lua");

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
const INCREMENT: &str = include_str!("lua/increment.lua");

/// Standalone only. `KEYS[1]` = from, `KEYS[2]` = to; `ARGV[3..]` = from member, to member, now,
/// the forward pointer's deadline ('' for none) and sealed id, change set. Returns 1 rotated,
/// 0 gone, 2 collision. A forward pointer replaces `from` as a hash of `f:to`, `f:sealed` and
/// `f:until` fields that expires at its deadline.
const ROTATE: &str = include_str!("lua/rotate.lua");

/// `KEYS[1]` = session; `ARGV[3]` = member. Returns `{deleted (0/1), had_user, user}`.
const DELETE: &str = include_str!("lua/delete.lua");

/// `KEYS[1]` = user index; `ARGV[3]`, `ARGV[4]` = the score and member a page starts after
/// (`''` for the first page), `ARGV[5]` = how many entries to return. Drops entries whose
/// score (the session's absolute deadline) has passed on the server's clock, then returns
/// one page of the remaining ones in (score, member) order, as member, score pairs.
///
/// Standalone checks each such entry against its hash first: an index written by the older
/// layout scored entries by the idle deadline, which touches no longer move, so a live session
/// behind a passed score is scored again by its absolute deadline instead of being dropped.
/// (Cluster indexes were always scored by the absolute deadline, and their hashes live in other
/// slots.)
const USER_MEMBERS: &str = include_str!("lua/user_members.lua");

/// Standalone only. `KEYS[1]` = user index; `ARGV[3]` = user, `ARGV[4]` = member to keep or ''.
/// Returns how many sessions were deleted.
const DELETE_USER_SESSIONS: &str = include_str!("lua/delete_user_sessions.lua");

/// Standalone only. `KEYS[1]` = expiry index; `ARGV[3]` = now, `ARGV[4]` = limit. Returns how
/// many expired sessions were removed (index entries, with their hash if Redis still held it).
///
/// Entries are scored by the absolute deadline, so an entry comes up once that has passed; a
/// session that died of idleness earlier was already dropped by Redis (its `PEXPIREAT`), and
/// its entry is pruned here. An entry scored too early (a live session, such as one written
/// under the older expiry-scored layout) is scored again by its absolute deadline.
const DELETE_EXPIRED: &str = include_str!("lua/delete_expired.lua");

/// Cluster: `KEYS[1]` = an index; `ARGV[3..]` = member, score. Adds the entry and keeps the
/// index alive until the score.
const INDEX_ADD: &str = include_str!("lua/index_add.lua");

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = revision read before, then optionally a forward
/// pointer's deadline, target member and sealed id. Deletes the hash only if no write happened
/// since, leaving the forward pointer in its place (as `ROTATE` does). Returns 1 deleted, 0
/// gone, 2 changed meanwhile.
const DELETE_IF_UNCHANGED: &str = include_str!("lua/delete_if_unchanged.lua");

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = user. Deletes the hash if it belongs to the user.
const DELETE_IF_USER: &str = include_str!("lua/delete_if_user.lua");

/// Cluster: `KEYS[1]` = session; `ARGV[3]` = now. Deletes the hash unless it is live. Returns
/// `{removed (0/1), had_user, user, absolute deadline of a live hash}`.
const DELETE_IF_EXPIRED: &str = include_str!("lua/delete_if_expired.lua");

/// `KEYS[1]` = expiry index; `ARGV[3]` = the score of the last entry returned ('' at the start),
/// `ARGV[4]` = its member, `ARGV[5]` = limit. Returns up to `limit` entries after that one in
/// (score, member) order, as a flat list of member, score. Reading by position after a
/// (score, member) pair rather than by offset means entries removed between two pages never
/// shift an entry past the scan; entries of equal score (sessions created in the same
/// millisecond) are walked inside the script, atomically.
const SCAN_EXPIRY: &str = include_str!("lua/scan_expiry.lua");

/// The per-user limit (standalone): `take_limit` removes the limit the Rust side appends to a
/// script's own arguments (user, max, policy `'1'` evict / `'0'` refuse, now, the members the
/// count skips, their number), `admit` counts the user's other live sessions and decides as
/// `sessile::limit::UserLimit::decide` does, `evict_sessions` deletes as `DELETE` does.
const LIMIT: &str = include_str!("lua/limit.lua");

/// Standalone only. `CREATE` under a limit: `CREATE`'s arguments, then the limit. Returns 1
/// created, 0 collision, 3 refused (nothing written).
const CREATE_LIMITED: &str = include_str!("lua/create_limited.lua");

/// Standalone only. `UPDATE` or `UPDATE_CHECKED` under a limit: their arguments, then the limit.
/// Returns as they do, or `{3, '0', ''}` refused (nothing written).
const UPDATE_LIMITED: &str = include_str!("lua/update_limited.lua");

/// Standalone only. `ROTATE` under a limit: its arguments, then the limit. Returns as it does,
/// or 3 refused (nothing moved).
const ROTATE_LIMITED: &str = include_str!("lua/rotate_limited.lua");

/// Cluster: `KEYS[1]` = a user's lease, `KEYS[2]` = the user's index (one slot); `ARGV[3]` =
/// the holder's token, `ARGV[4]` = milliseconds until the lease lapses. Returns the index's
/// members once the lease is the caller's, `nil` while someone else holds it.
const TAKE_LEASE: &str = include_str!("lua/take_lease.lua");

/// Cluster: `KEYS[1]` = a user's lease, `KEYS[2]` = the user's index; `ARGV[3]` = the holder's
/// token, `ARGV[4..]` = members to remove from the index. Removes them, then deletes the lease
/// if it is still that holder's.
const RELEASE_LEASE: &str = include_str!("lua/release_lease.lua");

/// The compiled scripts (their SHA1 digests are computed once, at first use).
pub(crate) struct Scripts {
    pub create: Script,
    pub update: Script,
    pub update_checked: Script,
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
    pub scan_expiry: Script,
    pub create_limited: Script,
    pub update_limited: Script,
    pub update_checked_limited: Script,
    pub rotate_limited: Script,
    pub take_lease: Script,
    pub release_lease: Script,
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

/// A script under a per-user limit: the common arguments, the helpers, the limit's helpers, the
/// unlimited script's body as the function `body` (its `return`s return from it), then
/// `wrapper`, which takes the limit, decides, calls `body` and evicts. The unlimited scripts
/// stay as they are: only writes that carry a limit pay for it.
fn compose_limited(helpers: &[&str], body: &str, wrapper: &str) -> Script {
    let mut code = String::from(COMMON);
    for helper in helpers {
        code.push_str(helper);
    }
    code.push_str(LIMIT);
    code.push_str("local function body()\n");
    code.push_str(body);
    code.push_str("\nend\n");
    code.push_str(wrapper);
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
        update_checked: compose(&[&changes[..], &[DEADLINES]].concat(), UPDATE_CHECKED),
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
        scan_expiry: compose(&[], SCAN_EXPIRY),
        create_limited: compose_limited(
            &[&indexes[..], &[DEADLINES, CHUNKED]].concat(),
            CREATE,
            CREATE_LIMITED,
        ),
        update_limited: compose_limited(
            &[&changes[..], &[DEADLINES]].concat(),
            UPDATE,
            UPDATE_LIMITED,
        ),
        update_checked_limited: compose_limited(
            &[&changes[..], &[DEADLINES]].concat(),
            UPDATE_CHECKED,
            UPDATE_LIMITED,
        ),
        rotate_limited: compose_limited(
            &[&changes[..], &[DEADLINES]].concat(),
            ROTATE,
            ROTATE_LIMITED,
        ),
        take_lease: compose(&[], TAKE_LEASE),
        release_lease: compose(&[], RELEASE_LEASE),
    }
});

/// Every script, for loading them ahead of the first call.
pub(crate) fn all() -> [&'static Script; 20] {
    let s = &*SCRIPTS;
    [
        &s.create,
        &s.update,
        &s.update_checked,
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
        &s.scan_expiry,
        &s.create_limited,
        &s.update_limited,
        &s.update_checked_limited,
        &s.rotate_limited,
        &s.take_lease,
        &s.release_lease,
    ]
}
