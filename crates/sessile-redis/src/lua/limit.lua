-- The per-user limit, in the same script as the write that signs the user in (standalone):
-- the rule is `sessile::limit::UserLimit::decide`. The Rust side appends the limit to the
-- script's own arguments (see `LimitArgs` in store.rs): user, max, policy ('1' evicts the least
-- recently used, '0' refuses), now, the members the count skips (the session signing in; a
-- rotation's from and to), then how many of those there are. `take_limit` removes that tail,
-- so the body that follows reads ARGV exactly as it does without a limit.
local function take_limit()
  local last = #ARGV
  local first = last - tonumber(ARGV[last]) - 4
  local limit = {
    user = ARGV[first],
    max = tonumber(ARGV[first + 1]),
    evicts = ARGV[first + 2] == '1',
    now = tonumber(ARGV[first + 3]),
    skip = {},
  }
  for i = first + 4, last - 1 do limit.skip[ARGV[i]] = true end
  for i = last, first, -1 do ARGV[i] = nil end
  return limit
end

-- The user's sessions to evict before the sign-in (possibly none), or nil to refuse it. Counts
-- the user's other sessions live at `now`: every index entry is checked against its hash (an
-- entry stays until its absolute deadline, after a session died of idleness or moved to
-- another user), reading both deadlines and the user.
local function admit(limit)
  local others = {}
  for _, member in ipairs(redis.call('ZRANGE', user_key(limit.user), 0, -1)) do
    if not limit.skip[member] then
      local stored = redis.call('HMGET', session_key(member), 'm:idle_deadline',
        'm:absolute_deadline', 'm:user', 'm:last_seen')
      local dl = parse_deadlines(stored)
      if dl and dl.expires > limit.now and stored[3] == limit.user then
        others[#others + 1] = { tonumber(stored[4]) or 0, member }
      end
    end
  end
  local keep = limit.max - 1
  if #others <= keep then return {} end
  if not limit.evicts then return nil end
  -- Least recently used first: the earliest last_seen, then the smallest key (a member is the
  -- key's lowercase hex, which sorts as the key's bytes do).
  table.sort(others, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local evict = {}
  for i = 1, #others - keep do evict[i] = others[i][2] end
  return evict
end

-- Deletes evicted sessions as `delete` does: the hash and both index entries.
local function evict_sessions(members, user)
  for _, member in ipairs(members) do
    redis.call('DEL', session_key(member))
    unindex_session(member, user)
  end
end

-- Whether a write to `hash` collides with what it holds: a live record, or one whose deadlines
-- cannot be read (create and rotate never overwrite what they cannot judge).
local function collides(hash, now)
  if redis.call('EXISTS', hash) == 0 then return false end
  local dl = deadlines(hash)
  return not dl or dl.expires > now
end
