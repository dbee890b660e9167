local after_score = nil
local after_member = ARGV[4]
local min = '-inf'
if ARGV[3] ~= '' then
  after_score = tonumber(ARGV[3])
  min = ARGV[3]
end
local limit = tonumber(ARGV[5])
local out = {}
local offset = 0
while #out < 2 * limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'WITHSCORES', 'LIMIT', offset, limit)
  if #page == 0 then
    break
  end
  for i = 1, #page, 2 do
    local score = tonumber(page[i + 1])
    if #out < 2 * limit and (after_score == nil or score > after_score or page[i] > after_member) then
      out[#out + 1] = page[i]
      out[#out + 1] = page[i + 1]
    end
  end
  offset = offset + #page / 2
end
return out
