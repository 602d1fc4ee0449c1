// @ts-check
// Three projects: unit (pure, no servers), integration (real servers the test bed
// starts), e2e (the whole system on the test bed). TypeScript is transformed by swc
// without type checking; `npm run typecheck` does that.
/** @typedef {import("jest").Config} Config */

/** @type {Config['transform']} */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
      module: { type: 'es6' },
    },
  ],
};

const common = {
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  testEnvironment: 'node',
  rootDir: '.',
  modulePathIgnorePatterns: ['<rootDir>/node_modules/'],
};

/** @type {Config} */
const config = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{operator,api,runner,crds,charts,packages,test}/**/*.test.ts', '<rootDir>/*.test.ts'],
      testPathIgnorePatterns: ['\\.(int|e2e)\\.test\\.ts$', '/node_modules/'],
    },
    {
      ...common,
      displayName: 'integration',
      // Waits on real servers; each wait has its own, shorter timeout with a reason.
      setupFilesAfterEnv: ['<rootDir>/test/support/timeouts-integration.ts'],
      testMatch: ['<rootDir>/{operator,api,runner,crds,packages,test}/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/bed/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/bed/jest-global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      setupFilesAfterEnv: ['<rootDir>/test/support/timeouts-e2e.ts'],
      testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'],
      globalSetup: '<rootDir>/test/bed/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/bed/jest-global-teardown.ts',
    },
  ],
};

export default config;
