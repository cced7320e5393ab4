-- Compare-and-set of a chain's head plus its new pending links in one step: succeeds (1) only if
-- the head is still the one the links were computed from, else changes nothing (0).
-- KEYS[1] the chain head hash (<prefix>:chain:<cluster>)
-- KEYS[2] the pending links hash (<prefix>:chain:<cluster>:pending)
-- ARGV[1] the seq the links were computed from ('0': no head)
-- ARGV[2] the new head's seq, ARGV[3] its hash
-- ARGV[4..] record id, integrity JSON pairs
local seq = redis.call('hget', KEYS[1], 'seq')
if (seq or '0') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 'seq', ARGV[2], 'hash', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('hset', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
