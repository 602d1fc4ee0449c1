import { expect, test } from '@jest/globals';
import { problemTypeBase } from './problem.ts';
import { rateLimitHeaders, rateLimitedProblem } from './rate-limit.ts';

const decision = { allowed: true, limit: 100, windowSeconds: 60, remaining: 42, resetSeconds: 17 };

test('RateLimit-Policy and RateLimit as draft-ietf-httpapi-ratelimit-headers structured fields', () => {
  expect(rateLimitHeaders(decision)).toEqual({
    'RateLimit-Policy': '"default";q=100;w=60',
    RateLimit: '"default";r=42;t=17',
  });
});

test('a refusal is a 429 rate-limited problem with Retry-After and the fields', () => {
  const problem = rateLimitedProblem({ ...decision, allowed: false, remaining: 0 });
  expect(problem.status).toBe(429);
  expect(problem.body().type).toBe(`${problemTypeBase}rate-limited`);
  expect(problem.headers).toEqual({ 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=0;t=17', 'Retry-After': '17' });
});
