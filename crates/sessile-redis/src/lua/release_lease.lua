-- Removes the members ARGV[4..] (sessions the holder evicted) from the user's index (KEYS[2]),
-- then ends the lease (KEYS[1]) if it is still the holder's (token ARGV[3]): one that lapsed and
-- was taken by someone else is left alone.
if #ARGV > 3 then redis.call('ZREM', KEYS[2], unpack(ARGV, 4)) end
if redis.call('GET', KEYS[1]) == ARGV[3] then return redis.call('DEL', KEYS[1]) end
return 0
