-- rotate.lua (as `body`) under a per-user limit: counted only when the rotation would go
-- through (the old session live, the new key free), else the body answers gone or collision;
-- a refusal answers 3 and moves nothing; the evicted sessions go in the same script as the move.
local limit = take_limit()
local evict = {}
local dl = deadlines(KEYS[1])
if dl and dl.expires > limit.now and not collides(KEYS[2], limit.now) then
  evict = admit(limit)
  if not evict then return 3 end
end
local rotated = body()
if rotated == 1 then evict_sessions(evict, limit.user) end
return rotated
