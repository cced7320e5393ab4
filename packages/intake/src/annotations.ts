/**
 * Annotations an intake adds to the events it converts, so a record says where it came from and
 * what its source could not tell. Kubernetes annotation keys are `prefix/name`; `crtrail.dev/` is
 * ours and never collides with the apiserver's (`authorization.k8s.io/…`, `audit.k8s.io/…`).
 */
export const SOURCE_ANNOTATION = 'crtrail.dev/source';

/**
 * Which bodies the source carried: `request-response`, `request`, `response`, `absent` (GKE), or
 * `skipped-too-big` (AKS replaced an object by that string).
 */
export const BODIES_ANNOTATION = 'crtrail.dev/bodies';

/**
 * Fields crtrail computed because the source does not carry them as the apiserver wrote them,
 * comma-separated (`requestURI,responseStatus.code,stage,…`): they are the converter's best
 * reading, not the apiserver's word.
 */
export const DERIVED_ANNOTATION = 'crtrail.dev/derived';

/**
 * The apiserver's own marker for an event whose bodies were dropped for size. The change engine
 * already treats it like a Metadata-level event (no state, a gap in the object's history), which
 * is exactly what a body the provider replaced by a placeholder must mean too.
 */
export const TRUNCATED_ANNOTATION = 'audit.k8s.io/truncated';

/** The managed services an intake reads. */
export type IntakeSource = 'eks' | 'aks' | 'gke';
