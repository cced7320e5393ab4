-- Every lock still held with this token gets a new lease.
-- KEYS[1..n] the object locks (<prefix>:lock:<object>)
-- ARGV[1] the holder's token, ARGV[2] the lease (ms)
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == ARGV[1] then redis.call('pexpire', KEYS[i], ARGV[2]) end
end
return 1
