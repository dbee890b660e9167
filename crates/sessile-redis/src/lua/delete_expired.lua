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
