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
