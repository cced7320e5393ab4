-- Decides whether one alert is sent now, joins its object's group window, or was sent already:
-- {2} alerted already; {1} it opens its object's window (send it now); else it is appended to the
-- window's pending list and {0, ms left, the record id that opened the window} returned. Atomic, so
-- two workers never both open a window or lose an alert between them.
-- KEYS[1] the record's sent marker (<prefix>:alerts:sent:<sink>:<record>)
-- KEYS[2] the window (<prefix>:alerts:window:<sink>:<group>)
-- KEYS[3] the pending list (<prefix>:alerts:group:<sink>:<group>)
-- ARGV[1] record id, ARGV[2] window ms (0: no grouping), ARGV[3] alert JSON
if redis.call('EXISTS', KEYS[1]) == 1 then return {2} end
if tonumber(ARGV[2]) == 0 then return {1} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) * 10)
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 0 end
return {0, left, redis.call('GET', KEYS[2]) or ARGV[1]}
