/**
 * Names shared by deploy/scripts/blue-green and deploy/k8s/components/blue-green (the component's
 * test checks that both use these).
 */

/** The label that tells the two sets apart. */
export const SLOT_LABEL = 'tasktier.io/slot';
/** Annotations on Service frontend: the set that was live before the last switch, and when. */
export const PREVIOUS_ANNOTATION = 'tasktier.io/previous-slot';
export const SWITCHED_ANNOTATION = 'tasktier.io/switched-at';
/** The Service in front of the idle set's frontends. */
export const PREVIEW_SERVICE = 'frontend-preview';
