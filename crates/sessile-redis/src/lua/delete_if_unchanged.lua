local hash = KEYS[1]
if redis.call('EXISTS', hash) == 0 then return 0 end
local revision = redis.call('HGET', hash, 'm:rev') or '0'
if revision ~= ARGV[3] then return 2 end
redis.call('DEL', hash)
-- A rotation's forward pointer (rotation grace) takes the old hash's place, in the same script.
local forward_until = ARGV[4]
if forward_until and forward_until ~= '' then
  redis.call('HSET', hash, 'f:to', ARGV[5], 'f:sealed', ARGV[6], 'f:until', forward_until)
  redis.call('PEXPIREAT', hash, forward_until)
end
return 1
