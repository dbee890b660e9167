-- update.lua or update_checked.lua (as `body`) under a per-user limit: counted only when the
-- session is live (else the body answers gone); a refusal answers {3, '0', ''} and writes
-- nothing; the evicted sessions go only if the body applied its change (a checked update whose
-- fields changed meanwhile writes nothing, so evicts nothing).
local limit = take_limit()
local evict = {}
local dl = deadlines(KEYS[1])
if dl and dl.expires > limit.now then
  evict = admit(limit)
  if not evict then return {3, '0', ''} end
end
local result = body()
if result[1] == 1 then evict_sessions(evict, limit.user) end
return result
