local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local stored
if indexed then
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
else
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user', 'm:rev')
end
local dl = parse_deadlines(stored)
if not dl or dl.expires <= now then return {0, '0', ''} end
local old_user = stored[3]
local new_user = apply_changes(hash, 5, dl, old_user, stored[4])
if indexed and new_user ~= old_user then
  if old_user then redis.call('ZREM', user_key(old_user), member) end
  if new_user then index_user(member, new_user, dl.absolute_text) end
end
-- A moved absolute deadline re-scores the indexes, which hold it.
if indexed and dl.absolute_changed then index_session(member, new_user, dl.absolute_text) end
if old_user then return {1, '1', old_user} end
return {1, '0', ''}
