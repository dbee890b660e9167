local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local expires_text, absolute_text = ARGV[5], ARGV[6]
local user = false
if ARGV[7] == '1' then user = ARGV[8] end
if redis.call('EXISTS', hash) == 1 then
  local stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
  local dl = parse_deadlines(stored)
  -- An unreadable record counts as live: create never overwrites what it cannot judge.
  if not dl or dl.expires > now then return 0 end
  if indexed then unindex_session(member, stored[3]) end
  redis.call('DEL', hash)
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
chunked('HSET', hash, fields)
redis.call('PEXPIREAT', hash, expires_text)
if indexed then index_session(member, user, absolute_text) end
return 1
