-- Takes every lock or none, atomically (1: all taken, 0: one is held, nothing taken).
-- KEYS[1..n] the object locks (<prefix>:lock:<object>)
-- ARGV[1] the holder's token, ARGV[2] the lease (ms)
for i = 1, #KEYS do
  if redis.call('exists', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('set', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
