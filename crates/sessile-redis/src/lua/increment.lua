local hash, now = KEYS[1], ARGV[3]
local field, by = ARGV[4], ARGV[5]
local stored
if indexed then
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', field,
    'm:idle_timeout')
else
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', field,
    'm:idle_timeout', 'm:rev')
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
-- The session's own idle timeout, when it has one, decides the deadline instead of the
-- touch's default (exact in a double: a deadline in milliseconds is far below 2^53).
if stored[4] then
  local own_deadline = tonumber(ARGV[6]) + tonumber(stored[4])
  if own_deadline >= tonumber(absolute) then
    idle_text = absolute
  else
    idle_text = string.format('%d', own_deadline)
  end
end
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
    'm:rev', string.format('%d', (tonumber(stored[5]) or 0) + 1))
end
if idle_text ~= expires_text then redis.call('PEXPIREAT', hash, idle_text) end
return {1, value}
