-- Adds each kind to its field's set of kinds (never replaces one): two processes learning at once
-- both keep their kind. Returns field, kinds pairs of the fields it touched.
-- KEYS[1] the kinds hash (<prefix>:kinds)
-- ARGV[2i-1] a field (group/resource), ARGV[2i] a kind seen for it
local out = {}
for i = 1, #ARGV, 2 do
  local field, kind = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[1], field)
  local found = false
  if cur then
    for k in string.gmatch(cur, '[^,]+') do if k == kind then found = true end end
  end
  if not found then
    cur = cur and (cur .. ',' .. kind) or kind
    redis.call('HSET', KEYS[1], field, cur)
  end
  out[#out + 1] = field
  out[#out + 1] = cur
end
return out
