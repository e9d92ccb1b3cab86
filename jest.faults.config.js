// The fault suite (test/faults, `npm run test:faults`): long, so it is its own config and not part of the e2e
// project. Files end in `.faults.ts` so the e2e project's `test/**/*.test.ts` never picks them up.
import base from './jest.config.js';

const e2e = base.projects.find((p) => p.displayName === 'e2e');

/** @type {import('jest').Config} */
export default {
  // Per-project testTimeout is ignored by Jest 30; each case also sets its own.
  testTimeout: 1_200_000,
  projects: [
    {
      ...e2e,
      displayName: 'faults',
      roots: ['<rootDir>/test/faults'],
      testMatch: ['<rootDir>/test/faults/**/*.faults.ts'],
    },
  ],
};
