import type { ScanReport, ScanRow } from '../common/last-copy.js';
import { renderScan, scanSummaryLine, shortDigest } from './scan-view.js';

const D = `sha256:${'ab'.repeat(32)}`;

function row(over: Partial<ScanRow>): ScanRow {
  return {
    image: 'reg/app:1',
    digest: D,
    registry: 'present',
    holders: ['node-1'],
    pods: ['shop/web-1'],
    podCount: 1,
    atRisk: false,
    action: 'none',
    ...over,
  };
}

const report: ScanReport = {
  workflowId: 'scan/20261125T120000000Z-abcd',
  minCopies: 1,
  backupRegistry: 'backup:5000',
  unreachableNodes: ['node-9'],
  rows: [
    row({
      image: 'reg/lost:1',
      registry: 'gone',
      atRisk: true,
      action: 'backed-up',
      backupRef: 'backup:5000/lost:1',
    }),
    row({
      image: 'reg/private:1',
      registry: 'unknown',
      registryDetail: 'HTTP 401',
      holders: ['a', 'b', 'c', 'd'],
    }),
    row({ image: 'reg/app:1' }),
  ],
};

test('renders a table with registry status, holder count and names, and the action', () => {
  const text = renderScan(report);
  const lines = text.split('\n');
  expect(lines[0]).toMatch(/^IMAGE\s+DIGEST\s+REGISTRY\s+HOLDERS\s+NODES\s+ACTION$/);
  expect(lines[1]).toMatch(/^reg\/lost:1\s+sha256:abababababab\s+gone\s+1\s+node-1\s+backed-up$/);
  expect(lines[2]).toMatch(/^reg\/private:1\s+\S+\s+unknown\s+4\s+a,b,c,\+1\s+none$/);
  expect(text).toContain('reg/lost:1: pushed to backup:5000/lost:1');
  expect(text).toContain('reg/private:1: HTTP 401');
  expect(text).toContain('agents not reachable on node-9');
  expect(text).toContain(
    '3 images in use by running pods; 1 at risk (gone from the registry, on <= 1 node), 1 backed up to backup:5000.',
  );
  expect(text).toContain('Workflow scan/20261125T120000000Z-abcd');
});

test('says when there is nothing to scan', () => {
  expect(renderScan({ ...report, rows: [], namespace: 'shop' })).toBe(
    'No running pods in shop: nothing to scan.\n',
  );
  expect(scanSummaryLine({ ...report, rows: [row({})], minCopies: 2 })).toBe(
    '1 image in use by running pods; 0 at risk (gone from the registry, on <= 2 nodes).',
  );
  expect(shortDigest(null)).toBe('-');
});
