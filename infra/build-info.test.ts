import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  buildVersionsIn,
  createProcessRegistry,
  readBuildInfo,
  versionLine,
  type Component,
} from './build-info.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('build info', () => {
  test('given this checkout, the version is the one in package.json, with the running Node.js', () => {
    const info = readBuildInfo();
    expect(info.version).toBe(pkg.version);
    expect(info.nodeVersion).toBe(process.version);
  });

  test('given a compiled module two levels below package.json, the revision comes from gitHead', () => {
    const root = mkdtempSync(join(tmpdir(), 'tote-build-info-'));
    mkdirSync(join(root, 'dist', 'infra'), { recursive: true });
    writeFileSync(
      join(root, 'package.json'),
      JSON.stringify({ name: 'tote', version: '9.8.7', gitHead: 'abc123' }),
    );
    // A package.json of another name on the way up is not ours.
    writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
    const info = readBuildInfo(pathToFileURL(join(root, 'dist', 'infra', 'build-info.js')).href);
    expect(info).toEqual({ version: '9.8.7', revision: 'abc123', nodeVersion: process.version });
    expect(versionLine(info)).toBe(`tote version 9.8.7 (node ${process.version}, revision abc123)`);
  });

  test('given no package.json named tote, the version is unknown rather than an error', () => {
    const root = mkdtempSync(join(tmpdir(), 'tote-build-info-'));
    const info = readBuildInfo(pathToFileURL(join(root, 'x.js')).href);
    expect(info.version).toBe('unknown');
    expect(versionLine(info)).toBe(`tote version unknown (node ${process.version})`);
  });

  test.each<[Component, string]>([
    ['controller', 'tote_controller_process_resident_memory_bytes'],
    ['worker', 'tote_worker_process_resident_memory_bytes'],
    ['agent', 'process_resident_memory_bytes'],
  ])('the %s registry has tote_build_info = 1 next to its process metrics', async (component, rss) => {
    const info = { version: '1.2.3', revision: 'unknown', nodeVersion: 'v20.0.0' };
    const text = await createProcessRegistry(component, info).metrics();
    expect(text).toContain(
      `tote_build_info{version="1.2.3",revision="unknown",node_version="v20.0.0",component="${component}"} 1`,
    );
    expect(text).toContain(`\n${rss} `);
    expect(buildVersionsIn(text)).toEqual(['1.2.3']);
  });

  test('versions are read from an exposition whatever the label order, and nothing from other series', () => {
    const text = [
      '# HELP tote_build_info Always 1',
      'tote_build_info{component="agent",version="0.2.0"} 1',
      'tote_build_info_other{version="9"} 1',
      'process_cpu_seconds_total 3',
    ].join('\n');
    expect(buildVersionsIn(text)).toEqual(['0.2.0']);
  });
});
