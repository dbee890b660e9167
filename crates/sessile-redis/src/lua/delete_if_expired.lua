local hash, now = KEYS[1], tonumber(ARGV[3])
local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
local dl = parse_deadlines(stored)
if dl and dl.expires > now then return {0, '0', '', dl.absolute_text} end
local user = stored[3]
redis.call('DEL', hash)
if user then return {1, '1', user, ''} end
return {1, '0', '', ''}
