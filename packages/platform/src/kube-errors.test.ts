import { describe, expect, it } from '@jest/globals';
import { apiServerMessage, isPermanentApiError, statusCode } from './kube-errors.ts';

// The shape of @kubernetes/client-node's ApiException: `code` and the answer's `body`.
const apiError = (code: number, body?: unknown) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body });

describe('Kubernetes API errors', () => {
  it.each([
    [400, true], [403, true], [404, true], [422, true],
    [408, false], [409, false], [429, false], [500, false], [503, false],
  ])('%i is permanent: %s', (code, permanent) => {
    expect(statusCode(apiError(code))).toBe(code);
    expect(isPermanentApiError(apiError(code))).toBe(permanent);
  });

  it('an error without a status is not permanent', () => {
    expect(statusCode(new Error('ECONNREFUSED'))).toBeUndefined();
    expect(isPermanentApiError(new Error('ECONNREFUSED'))).toBe(false);
    expect(isPermanentApiError(undefined)).toBe(false);
  });

  it.each([
    ['a Status as JSON text', apiError(422, '{"kind":"Status","message":"spec.prompt: Required value"}'), 'spec.prompt: Required value'],
    ['a parsed Status', apiError(403, { message: 'forbidden: cannot create jobs' }), 'forbidden: cannot create jobs'],
    ['a body that is not JSON', apiError(502, '<html>bad gateway</html>'), 'HTTP-Code: 502'],
    ['no body', new Error('socket hang up'), 'socket hang up'],
  ])('gives the apiserver\'s message from %s', (_name, error, message) => {
    expect(apiServerMessage(error)).toBe(message);
  });
});
