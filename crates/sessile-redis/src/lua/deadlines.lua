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
