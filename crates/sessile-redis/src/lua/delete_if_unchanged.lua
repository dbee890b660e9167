local hash = KEYS[1]
if redis.call('EXISTS', hash) == 0 then return 0 end
local revision = redis.call('HGET', hash, 'm:rev') or '0'
if revision ~= ARGV[3] then return 2 end
redis.call('DEL', hash)
return 1
