// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

// Each deployable (operator/, api/, runner/) ships on its own: its source never
// imports another deployable, and the shared packages (crds/, packages/) import
// none. What two of them need goes to a shared package. Tests may import the
// deployables they test. eslint.config.test.ts shows the rule at work.
const deployables = ['operator', 'api', 'runner'];

/**
 * no-restricted-imports for a file that may not import these deployables (relative paths, any depth).
 * @param {string[]} forbidden
 * @param {string} who
 * @returns {import('eslint').Linter.RuleEntry}
 */
function mayNotImport(forbidden, who) {
  return ['error', {
    patterns: [{
      regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
      message: `${who} may not import a deployable (${forbidden.join('/, ')}/): move what both need to packages/ (contracts, platform, database) or crds/.`,
    }],
  }];
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'charts/claude-operator/**', 'crds/**/*.yaml', 'coverage/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  ...deployables.map((deployable) => ({
    files: [`${deployable}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': mayNotImport(deployables.filter((other) => other !== deployable), `${deployable}/`) },
  })),
  {
    files: ['crds/**/*.ts', 'charts/**/*.ts', 'packages/**/*.ts'],
    rules: { 'no-restricted-imports': mayNotImport(deployables, 'A shared package') },
  },
);
