import { parseWorkerConfig, WorkerConfigError } from './worker-config.js';

const dev = { insecurePlaintext: true } as const;

test('given no --scan-interval, the scheduled scan is off', () => {
  expect(parseWorkerConfig(dev, {}).scan).toBeUndefined();
});

test('given --scan-interval (or its env var), the scan runs on that schedule with its options', () => {
  expect(parseWorkerConfig({ ...dev, scanInterval: '6h', scanMinCopies: '2' }, {}).scan).toEqual({
    everyMs: 6 * 3_600_000,
    minCopies: 2,
    registryInsecure: false,
  });
  expect(
    parseWorkerConfig(dev, { TOTE_SCAN_INTERVAL: '30m', TOTE_SCAN_REGISTRY_INSECURE: 'true' }).scan,
  ).toEqual({ everyMs: 1_800_000, minCopies: 1, registryInsecure: true });
});

test('given a bad --scan-interval or --scan-min-copies, should name the flag', () => {
  expect(() => parseWorkerConfig({ ...dev, scanInterval: 'daily' }, {})).toThrow(WorkerConfigError);
  expect(() => parseWorkerConfig({ ...dev, scanInterval: 'daily' }, {})).toThrow(/--scan-interval/);
  expect(() => parseWorkerConfig({ ...dev, scanInterval: '1h', scanMinCopies: '-1' }, {})).toThrow(
    /--scan-min-copies/,
  );
});
