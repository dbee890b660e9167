local function index_user(member, user, absolute_text)
  redis.call('ZADD', user_key(user), absolute_text, member)
  extend_ttl(user_key(user), absolute_text)
end

local function index_session(member, user, absolute_text)
  redis.call('ZADD', expiry_key(), absolute_text, member)
  extend_ttl(expiry_key(), absolute_text)
  if user then index_user(member, user, absolute_text) end
end

local function unindex_session(member, user)
  redis.call('ZREM', expiry_key(), member)
  if user then redis.call('ZREM', user_key(user), member) end
end
