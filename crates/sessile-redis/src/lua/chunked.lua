-- Calls `command hash item...` in slices: Lua's unpack has a stack limit. The slice length is
-- even, so field/value pairs never straddle two calls.
local function chunked(command, hash, items)
  for first = 1, #items, 256 do
    redis.call(command, hash, unpack(items, first, math.min(first + 255, #items)))
  end
end
