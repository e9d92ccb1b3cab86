import { pino } from 'pino';
import { startHealthServers } from './health.js';

test('given unsynced caches, /readyz is 503 with the failing condition; /healthz and /metrics answer', async () => {
  let synced = false;
  const servers = await startHealthServers({
    host: '127.0.0.1',
    metricsPort: 0,
    healthPort: 0,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'tote_up 1\n' }),
    checks: { live: () => true, ready: async () => ({ cachesSynced: synced, temporalReachable: true }) },
    logger: pino({ level: 'silent' }),
  });
  try {
    const h = `http://127.0.0.1:${servers.healthPort}`;
    const notReady = await fetch(`${h}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ready: false, cachesSynced: false, temporalReachable: true });
    synced = true;
    expect((await fetch(`${h}/readyz`)).status).toBe(200);
    expect((await fetch(`${h}/healthz`)).status).toBe(200);
    expect((await fetch(`${h}/metrics`)).status).toBe(404);
    const m = await fetch(`http://127.0.0.1:${servers.metricsPort}/metrics`);
    expect(await m.text()).toBe('tote_up 1\n');
  } finally {
    await servers.close();
  }
});

test('given a dead informer, /healthz is 503', async () => {
  const servers = await startHealthServers({
    host: '127.0.0.1',
    metricsPort: 0,
    healthPort: 0,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    checks: { live: () => false, ready: async () => ({}) },
    logger: pino({ level: 'silent' }),
  });
  try {
    expect((await fetch(`http://127.0.0.1:${servers.healthPort}/healthz`)).status).toBe(503);
  } finally {
    await servers.close();
  }
});
