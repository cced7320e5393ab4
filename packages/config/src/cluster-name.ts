/**
 * What a cluster name may be, wherever one is given: the webhook's URL path, a token's line, a client
 * certificate's CN, an intake's configuration and CRTRAIL_CLUSTER. It is a segment of record ids and
 * object keys and a label value of metrics, so one short, path- and label-safe alphabet for all.
 */
export const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** {@link CLUSTER_NAME} in words, for the messages that reject a name. */
export const CLUSTER_NAME_RULE = 'letters, digits, . _ - (max 63)';
