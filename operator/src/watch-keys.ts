// The keys a controller's watches (manager.ts) map a changed object to: its own,
// or its owner's. A controller that made an object (a Job, a pod, a PVC, a task)
// records which of its objects owns it in one of three places; each controller
// says which, so every kind finds its owner's key the same way.
import type { KubernetesObject } from '@kubernetes/client-node';

/** The object's own reconcile key, `namespace/name`. */
export function ownKey(object: KubernetesObject): string[] {
  return [`${object.metadata?.namespace}/${object.metadata?.name}`];
}

/** Where an owned object names its owner (in the owned object's namespace); the first that is present wins, in this order. */
export interface OwnerPointer {
  /** An annotation holding the owner's name: no length limit. */
  annotation?: string;
  /** A label holding the owner's name (at most 63 characters): for objects made before the annotation existed. */
  label?: string;
  /** The kind of the controller ownerReference. */
  controllerKind?: string;
}

/** A watch's keysOf for owned objects: the owners' keys, none for an object without one. */
export function keysOfOwner(pointer: OwnerPointer): (object: KubernetesObject) => string[] {
  return (object) => {
    const metadata = object.metadata;
    const annotated = pointer.annotation === undefined ? undefined : metadata?.annotations?.[pointer.annotation];
    const named = annotated ?? (pointer.label === undefined ? undefined : metadata?.labels?.[pointer.label]);
    if (named !== undefined) return named ? [`${metadata?.namespace}/${named}`] : [];
    if (!pointer.controllerKind) return [];
    return (metadata?.ownerReferences ?? [])
      .filter((owner) => owner.kind === pointer.controllerKind && owner.controller)
      .map((owner) => `${metadata?.namespace}/${owner.name}`);
  };
}

/** An update that changed the spec (metadata.generation), not only status or metadata: controller-runtime's
 * GenerationChangedPredicate. A periodic resync (object === previous) never matters by it. */
export function generationChanged(object: KubernetesObject, previous: KubernetesObject): boolean {
  return object.metadata?.generation !== previous.metadata?.generation;
}
