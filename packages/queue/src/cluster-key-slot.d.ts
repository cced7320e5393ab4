// The hash slot function ioredis itself routes with (the package ships no types).
declare module 'cluster-key-slot' {
  /** CRC16 of the key (or of its `{hash tag}`) modulo 16384: the Redis Cluster slot. */
  export default function calculateSlot(key: string | Buffer): number;
}
