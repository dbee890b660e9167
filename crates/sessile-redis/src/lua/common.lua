local prefix = ARGV[1]
local indexed = ARGV[2] == '1'
