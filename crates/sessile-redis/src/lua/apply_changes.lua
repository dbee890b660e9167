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
  local set_count = tonumber(ARGV[at + 9])
  local first_set = at + 10
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
  -- The session's own idle timeout after the change: set, taken back, or as stored.
  local own = ARGV[at + 7]
  if own == '-' then
    own = false
    removes[#removes + 1] = 'm:idle_timeout'
  elseif own ~= '' then
    sets[#sets + 1] = 'm:idle_timeout'
    sets[#sets + 1] = own
  else
    own = redis.call('HGET', hash, 'm:idle_timeout')
  end
  if ARGV[at + 8] ~= '' then
    dl.absolute_text = ARGV[at + 8]
    dl.absolute = tonumber(dl.absolute_text)
    dl.absolute_changed = true
    sets[#sets + 1] = 'm:absolute_deadline'
    sets[#sets + 1] = dl.absolute_text
  end
  local expires_text = dl.expires_text
  if dl.absolute_changed and ARGV[at + 1] == '' then
    local idle_text = redis.call('HGET', hash, 'm:idle_deadline')
    expires_text = idle_text
    if tonumber(idle_text) > dl.absolute then expires_text = dl.absolute_text end
  end
  if ARGV[at + 1] ~= '' then
    local idle_text = ARGV[at + 2]
    local idle = tonumber(idle_text)
    if own then
      -- Exact in a double: a deadline in milliseconds is far below 2^53.
      idle = tonumber(ARGV[at + 1]) + tonumber(own)
      idle_text = nil
    end
    if idle >= dl.absolute then
      idle_text = dl.absolute_text
    elseif not idle_text then
      idle_text = string.format('%d', idle)
    end
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
