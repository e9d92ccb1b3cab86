import { recordNames } from './salvage-transfer.js';

const D = `sha256:${'ab'.repeat(32)}`;

test.each([
  ['nginx', ['docker.io/library/nginx:latest', `docker.io/library/nginx@${D}`]],
  [
    'registry.gone:5000/team/app:1.2',
    ['registry.gone:5000/team/app:1.2', `registry.gone:5000/team/app@${D}`],
  ],
  [`quay.io/x/y@${D}`, [`quay.io/x/y@${D}`]],
  ['Not A Ref', []],
])('recordNames(%s) gives the names kubelet looks up', (ref, names) => {
  expect(recordNames(ref, D)).toEqual(names);
});
