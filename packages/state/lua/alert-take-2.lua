-- Moves a window's pending alerts aside (once; a retried flush finds them there) and returns them.
-- KEYS[1] the pending list (<prefix>:alerts:group:<sink>:<group>)
-- KEYS[2] this window's flushing list (<prefix>:alerts:flushing:<sink>:<group>:<window>)
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('LRANGE', KEYS[2], 0, -1)
