import { expect, test } from '@jest/globals';
import { ConfigError } from '../../packages/platform/src/config.ts';
import { parseApiConfig } from './config.ts';

const required = {
  DATABASE_URL: 'postgres://db/api', REDIS_URL: 'redis://redis:6379',
  JWT_HS256_SECRET: 'x'.repeat(32), JWT_ISSUER: 'https://issuer', JWT_AUDIENCE: 'api',
};

test('CORS is off unless origins are configured', () => {
  expect(parseApiConfig(required).CORS_ALLOWED_ORIGINS).toEqual([]);
  expect(parseApiConfig({ ...required, CORS_ALLOWED_ORIGINS: '' }).CORS_ALLOWED_ORIGINS).toEqual([]);
});

test('CORS origins: a comma-separated list of exact origins', () => {
  const config = parseApiConfig({ ...required, CORS_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:3000' });
  expect(config.CORS_ALLOWED_ORIGINS).toEqual(['https://app.example.com', 'http://localhost:3000']);
  expect(config.CORS_MAX_AGE_SECONDS).toBe(600);
});

test.each(['https://app.example.com/', 'https://app.example.com/ui', '*', 'app.example.com', 'ftp://files.example.com'])(
  'CORS origin %p is refused with the variable named', (origin) => {
    expect(() => parseApiConfig({ ...required, CORS_ALLOWED_ORIGINS: origin })).toThrow(ConfigError);
    expect(() => parseApiConfig({ ...required, CORS_ALLOWED_ORIGINS: origin })).toThrow(/CORS_ALLOWED_ORIGINS\.0: must be an origin/);
  });

test('impersonation is off by default, with the claude-api: prefix', () => {
  const config = parseApiConfig(required);
  expect([config.API_IMPERSONATION, config.API_IMPERSONATION_USER_PREFIX]).toEqual(['off', 'claude-api:']);
  const on = parseApiConfig({ ...required, API_IMPERSONATION: 'on', API_IMPERSONATION_USER_PREFIX: 'tenants/' });
  expect([on.API_IMPERSONATION, on.API_IMPERSONATION_USER_PREFIX]).toEqual(['on', 'tenants/']);
});

test.each([
  ['API_IMPERSONATION', 'true', /API_IMPERSONATION/],
  ['API_IMPERSONATION_USER_PREFIX', '', /API_IMPERSONATION_USER_PREFIX: must not be empty/],
  ['API_IMPERSONATION_USER_PREFIX', 'system:claude-api:', /API_IMPERSONATION_USER_PREFIX: must not start with system:/],
])('%s=%p is refused at startup', (name, value, message) => {
  expect(() => parseApiConfig({ ...required, [name]: value })).toThrow(ConfigError);
  expect(() => parseApiConfig({ ...required, [name]: value })).toThrow(message);
});
