if redis.call('HGET', KEYS[1], 'm:user') == ARGV[3] then
  return redis.call('DEL', KEYS[1])
end
return 0
