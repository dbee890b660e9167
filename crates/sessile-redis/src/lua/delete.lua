local hash, member = KEYS[1], ARGV[3]
local user = redis.call('HGET', hash, 'm:user')
local existed = redis.call('DEL', hash)
if indexed then unindex_session(member, user) end
if user then return {existed, '1', user} end
return {existed, '0', ''}
