-- The next write counter after `revision`.
local function next_revision(revision)
  return string.format('%d', (tonumber(revision) or 0) + 1)
end
