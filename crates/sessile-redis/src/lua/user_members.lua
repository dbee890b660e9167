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
