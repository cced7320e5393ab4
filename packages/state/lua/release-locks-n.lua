-- Every lock still held with this token is released (compare-and-delete).
-- KEYS[1..n] the object locks (<prefix>:lock:<object>)
-- ARGV[1] the holder's token
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == ARGV[1] then redis.call('del', KEYS[i]) end
end
return 1
