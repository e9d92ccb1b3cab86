// Jest runs in native ESM mode (node --experimental-vm-modules): @kubernetes/client-node is ESM-only.
// See docs/adr/0001-esm-and-jest.md. ts-jest only transpiles (isolatedModules); `npm run typecheck` checks types.
const tsJest = ['ts-jest', { useESM: true, isolatedModules: true, diagnostics: false }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  // Per-project testTimeout is ignored by Jest 30; e2e suites start real daemons.
  testTimeout: 300000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{common,infra,agent,workflows,activities,controller,workers,cli}/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testTimeout: 300000,
    },
  ],
};
