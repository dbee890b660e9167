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
-- One page in (score, member) order after the cursor ARGV[3] (score, '' for the first page),
-- ARGV[4] (member), at most ARGV[5] entries, as member, score pairs: first the members tied
-- with the cursor's score that sort after its member, then those of higher scores.
local count = tonumber(ARGV[5])
local page = {}
local higher = '-inf'
if ARGV[3] ~= '' then
  higher = '(' .. ARGV[3]
  local tied = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3], 'WITHSCORES')
  for i = 1, #tied, 2 do
    if #page < 2 * count and tied[i] > ARGV[4] then
      page[#page + 1] = tied[i]
      page[#page + 1] = tied[i + 1]
    end
  end
end
local left = count - #page / 2
if left > 0 then
  local rest = redis.call('ZRANGEBYSCORE', KEYS[1], higher, '+inf', 'WITHSCORES', 'LIMIT', 0, left)
  for i = 1, #rest do page[#page + 1] = rest[i] end
end
return page
