import { describe, expect, it } from '@jest/globals';
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { keysOfOwner, ownKey } from './watch-keys.ts';

const owned = (metadata: { annotations?: Record<string, string>; labels?: Record<string, string>; ownerReferences?: V1OwnerReference[] }): KubernetesObject =>
  ({ metadata: { namespace: 'team-a', name: 'owned-1', ...metadata } });
const ownerRef = (kind: string, name: string, controller: boolean): V1OwnerReference =>
  ({ apiVersion: 'claude.example/v1', kind, name, uid: `uid-${name}`, controller });

describe('ownKey', () => {
  it('is namespace/name', () => {
    expect(ownKey({ metadata: { namespace: 'team-a', name: 'fix-bug' } })).toEqual(['team-a/fix-bug']);
  });
});

describe('keysOfOwner', () => {
  const byAnnotationOrLabel = keysOfOwner({ annotation: 'example/task-name', label: 'example/task' });
  const byController = keysOfOwner({ controllerKind: 'ClaudeCronTask' });

  it.each([
    ['the annotation', owned({ annotations: { 'example/task-name': 'a-very-long-task-name' } }), ['team-a/a-very-long-task-name']],
    ['the label, when there is no annotation', owned({ labels: { 'example/task': 'short' } }), ['team-a/short']],
    ['the annotation before the label', owned({ annotations: { 'example/task-name': 'from-annotation' }, labels: { 'example/task': 'from-label' } }),
      ['team-a/from-annotation']],
    ['nothing for an empty annotation, whatever the label', owned({ annotations: { 'example/task-name': '' }, labels: { 'example/task': 'x' } }), []],
    ['nothing for an object without either', owned({ labels: { other: 'x' } }), []],
  ])('by annotation or label: %s', (_case, object, keys) => {
    expect(byAnnotationOrLabel(object)).toEqual(keys);
  });

  it.each([
    ['each controller reference of the kind', owned({ ownerReferences: [ownerRef('ClaudeCronTask', 'nightly', true)] }), ['team-a/nightly']],
    ['not a reference that is no controller', owned({ ownerReferences: [ownerRef('ClaudeCronTask', 'nightly', false)] }), []],
    ['not a controller of another kind', owned({ ownerReferences: [ownerRef('ClaudeTask', 'nightly', true)] }), []],
    ['nothing without references', owned({}), []],
  ])('by controller reference: %s', (_case, object, keys) => {
    expect(byController(object)).toEqual(keys);
  });

  it('reads only the places it is given', () => {
    expect(keysOfOwner({ annotation: 'example/session-name' })(owned({ labels: { 'example/session-name': 'chat' } }))).toEqual([]);
    expect(byAnnotationOrLabel(owned({ ownerReferences: [ownerRef('ClaudeCronTask', 'nightly', true)] }))).toEqual([]);
  });
});
