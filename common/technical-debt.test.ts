import { TECHNICAL_DEBT } from './technical-debt.js';

test('the technical-debt sentence is the one the docs quote, a single finished sentence', () => {
  expect(TECHNICAL_DEBT).toBe(
    'This is technical debt: rebuild the image and push it to a registry the cluster can pull from.',
  );
  expect(TECHNICAL_DEBT.match(/\./g)).toHaveLength(1);
  expect(TECHNICAL_DEBT.endsWith('.')).toBe(true);
});
