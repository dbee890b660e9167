-- create.lua (as `body`) under a per-user limit: a collision stays a collision and evicts
-- nothing; else the limit refuses (3, nothing written) or admits, and the evicted sessions go
-- in the same script as the insert.
local limit = take_limit()
if collides(KEYS[1], limit.now) then return 0 end
local evict = admit(limit)
if not evict then return 3 end
local created = body()
if created == 1 then evict_sessions(evict, limit.user) end
return created
