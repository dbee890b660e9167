local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return 2 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 3 end
if ARGV[3] == '' then
  redis.call('SET', KEYS[2], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
end
redis.call('DEL', KEYS[1])
return 1
