-- Per key: {0} when its rev equals the caller's cached one, else {rev, field, value, ...}; {} when
-- absent; {-1, text} for a history still stored as one JSON string by an earlier version of crtrail.
-- KEYS[1..n] object histories (<prefix>:state:<object>)
-- ARGV[i] the rev the caller holds for KEYS[i] in its cache (-2: none)
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('type', key).ok
  if t == 'string' then
    out[i] = {-1, redis.call('get', key)}
  elseif t == 'none' then
    out[i] = {}
  else
    local rev = tonumber(redis.call('hget', key, 'rev') or '0')
    if rev == tonumber(ARGV[i]) then
      out[i] = {0}
    else
      local all = redis.call('hgetall', key)
      table.insert(all, 1, rev)
      out[i] = all
    end
  end
end
return out
