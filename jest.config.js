// Jest runs in native ESM mode (node --experimental-vm-modules): @kubernetes/client-node is ESM-only.
// See docs/adr/0001-esm-and-jest.md. ts-jest only transpiles (isolatedModules); `npm run typecheck` checks types.
const tsJest = ['ts-jest', { useESM: true, diagnostics: false }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  // Run directories hold live sockets and large fixture images: never crawl them.
  modulePathIgnorePatterns: ['<rootDir>/.tote-runs/', '<rootDir>/dist/'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/.tote-runs/', '<rootDir>/dist/'],
};

/** @type {import('jest').Config} */
export default {
  // Per-project testTimeout is ignored by Jest 30; e2e suites start real daemons.
  testTimeout: 300000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: [
        '<rootDir>/common',
        '<rootDir>/infra',
        '<rootDir>/agent',
        '<rootDir>/workflows',
        '<rootDir>/activities',
        '<rootDir>/controller',
        '<rootDir>/workers',
        '<rootDir>/cli',
      ],
      testMatch: ['<rootDir>/{common,infra,agent,workflows,activities,controller,workers,cli}/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      roots: ['<rootDir>/test'],
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testTimeout: 300000,
    },
  ],
};
