-- update.lua behind a compare: ARGV[5] = n, then n pairs of a data field and the value read
-- before ('0' absent, '1' followed by the text); the change set follows at ARGV[6 + 2n].
-- A field changed since it was read answers {2, '0', ''} and writes nothing.
local hash, member, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local checks = tonumber(ARGV[5])
local stored
if indexed then
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user')
else
  stored = redis.call('HMGET', hash, 'm:idle_deadline', 'm:absolute_deadline', 'm:user', 'm:rev')
end
local dl = parse_deadlines(stored)
if not dl or dl.expires <= now then return {0, '0', ''} end
for i = 0, checks - 1 do
  local current = redis.call('HGET', hash, ARGV[6 + 2 * i])
  if current then current = '1' .. current else current = '0' end
  if current ~= ARGV[7 + 2 * i] then return {2, '0', ''} end
end
local old_user = stored[3]
local new_user = apply_changes(hash, 6 + 2 * checks, dl, old_user, stored[4])
if indexed and new_user ~= old_user then
  if old_user then redis.call('ZREM', user_key(old_user), member) end
  if new_user then index_user(member, new_user, dl.absolute_text) end
end
-- A moved absolute deadline re-scores the indexes, which hold it.
if indexed and dl.absolute_changed then index_session(member, new_user, dl.absolute_text) end
if old_user then return {1, '1', old_user} end
return {1, '0', ''}
