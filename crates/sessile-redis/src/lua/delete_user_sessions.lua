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
