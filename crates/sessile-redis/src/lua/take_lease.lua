-- Takes the user's lease (KEYS[1]) for the token ARGV[3], lapsing after ARGV[4] milliseconds,
-- if nobody holds it; then returns the user's index (KEYS[2], same slot) as it stands, the
-- members the holder counts. Returns false while someone else holds the lease.
if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[4]) then return false end
return redis.call('ZRANGE', KEYS[2], 0, -1)
