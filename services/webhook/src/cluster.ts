/** A cluster name, as in the URL path, a token's line, a client certificate's CN and CRTRAIL_CLUSTER. */
export const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
