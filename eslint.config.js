// Lint = style budget + the module boundaries of docs/conventions.md, enforced per directory.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const nodeBuiltins = [
  'node:*',
  'fs',
  'path',
  'os',
  'http',
  'https',
  'net',
  'tls',
  'crypto',
  'child_process',
  'stream',
];
const ban = (...patterns) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: patterns.map((group) => ({
        group: [group],
        message: 'Crosses a module boundary (docs/conventions.md, module boundaries).',
      })),
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/gen/**', 'coverage/**', 'charts/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      'import-x/no-cycle': 'error',
      complexity: ['error', 12],
      'max-depth': ['error', 3],
      'max-params': ['error', 4],
      'max-statements': ['error', 25],
      'no-console': 'error',
    },
  },
  {
    // A promise nobody awaits loses its error; an async callback where a void one is expected does the same.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['common/**/*.ts'],
    rules: ban(
      ...nodeBuiltins,
      '@kubernetes/*',
      '@grpc/*',
      'pino',
      'prom-client',
      '@temporalio/*',
      '**/infra/*',
      '**/agent/*',
      '**/workflows/*',
      '**/activities/*',
      '**/controller/*',
      '**/workers/*',
      '**/cli/*',
    ),
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: ban(
      ...nodeBuiltins,
      '@kubernetes/*',
      '@grpc/*',
      'pino',
      'prom-client',
      '**/infra/*',
      '**/agent/*',
      '**/controller/*',
      '**/workers/*',
      '**/cli/*',
    ),
  },
  {
    files: ['activities/**/*.ts'],
    ignores: ['activities/**/*.test.ts'],
    rules: ban('@temporalio/workflow', '**/workers/*', '**/controller/*', '**/cli/*', '**/agent/*'),
  },
  {
    files: ['infra/**/*.ts'],
    ignores: ['infra/**/*.test.ts'],
    rules: ban(
      '**/workflows/*',
      '**/activities/*',
      '**/workers/*',
      '**/controller/*',
      '**/cli/*',
      '**/agent/*',
    ),
  },
  {
    files: ['controller/**/*.ts'],
    ignores: ['controller/**/*.test.ts'],
    rules: ban('**/activities/*', '**/agent/*', '**/workers/*', '**/cli/*'),
  },
  {
    files: ['agent/**/*.ts'],
    ignores: ['agent/**/*.test.ts'],
    rules: ban(
      '@temporalio/*',
      '@kubernetes/*',
      '**/workflows/*',
      '**/activities/*',
      '**/controller/*',
      '**/workers/*',
      '**/cli/*',
    ),
  },
  { files: ['cli/**/*.ts'], ignores: ['cli/**/*.test.ts'], rules: ban('**/activities/*', '**/agent/*') },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts', 'hack/**/*.ts'],
    rules: { 'max-statements': 'off', complexity: 'off', 'max-params': 'off', 'no-console': 'off' },
  },
);
