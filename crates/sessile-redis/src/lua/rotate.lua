local from, to = KEYS[1], KEYS[2]
local from_member, to_member, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
local stored = redis.call('HMGET', from, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
local dl = parse_deadlines(stored)
if not dl or dl.expires <= now then return 0 end
if redis.call('EXISTS', to) == 1 then
  local target = deadlines(to)
  if not target or target.expires > now then return 2 end
  unindex_session(to_member, redis.call('HGET', to, 'm:user'))
  redis.call('DEL', to)
end
local old_user = stored[3]
local new_user = apply_changes(from, 8, dl, old_user, nil)
-- RENAME keeps the PEXPIREAT deadline.
redis.call('RENAME', from, to)
unindex_session(from_member, old_user)
index_session(to_member, new_user, dl.absolute_text)
-- The forward pointer (rotation grace): a hash of 'f:' fields only, which no session script
-- reads as a session, gone by itself at its deadline.
local forward_until = ARGV[6]
if forward_until ~= '' then
  redis.call('HSET', from, 'f:to', to_member, 'f:sealed', ARGV[7], 'f:until', forward_until)
  redis.call('PEXPIREAT', from, forward_until)
end
return 1
