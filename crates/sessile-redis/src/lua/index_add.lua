redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
extend_ttl(KEYS[1], ARGV[4])
return 1
