local function session_key(member) return prefix .. '{' .. member .. '}' end
local function user_key(user) return prefix .. 'user:{' .. user .. '}' end
local function expiry_key() return prefix .. 'expiry' end
