import fc from 'fast-check';
import { formatReference, parseImageReference, digestFromImageID, withDigest } from './image-ref.js';

const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '---');
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 3 }))
  .map(([head, tail]) => head + tail.map(([s, a]) => s + a).join(''));
const repository = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));

const domainComponent = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?$/);
const port = fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`);
const optionalPort = fc.option(port, { nil: '' });
const dottedHost = fc.array(domainComponent, { minLength: 2, maxLength: 4 }).map((c) => c.join('.'));
const ipv6 = fc.stringMatching(/^[a-f0-9]{0,4}(?::[a-f0-9]{0,4}){2,7}$/).map((h) => `[${h}]`);
/** Registries that splitDomain always recognises as registries (a dot, a port, localhost or brackets). */
const registry = fc
  .oneof(
    fc.tuple(dottedHost, optionalPort).map(([h, p]) => h + p),
    fc.tuple(domainComponent, port).map(([h, p]) => h + p),
    optionalPort.map((p) => `localhost${p}`),
    fc.tuple(ipv6, optionalPort).map(([h, p]) => h + p),
  )
  .filter((r) => r !== 'docker.io' && r !== 'index.docker.io');
const tag = fc.oneof(fc.stringMatching(/^\w[\w.-]{0,20}$/), fc.stringMatching(/^\w[\w.-]{100,127}$/));
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);

const reference = fc
  .record({
    registry,
    repository,
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .filter((r) => r.registry.length + 1 + r.repository.length <= 255);

/** Strings over the reference alphabet reach deep into the parser far more often than random text. */
const referenceLike = fc.string({
  unit: fc.constantFrom(...'abcAZ09:/@._-[]'.split(''), 'sha256:', 'docker.io/', 'localhost'),
  maxLength: 80,
});

function assertIdempotent(s: string): void {
  const first = parseImageReference(s);
  if (!first.ok) return;
  const again = parseImageReference(formatReference(first.ref));
  expect(again.ok).toBe(true);
  if (!again.ok) return;
  expect(formatReference(again.ref)).toBe(formatReference(first.ref));
  const familiar = parseImageReference(first.ref.familiar);
  expect(familiar.ok && formatReference(familiar.ref)).toBe(formatReference(first.ref));
}

describe('parseImageReference properties', () => {
  it('given a generated valid reference should round-trip through parse and format', () => {
    fc.assert(
      fc.property(reference, (r) => {
        const s = formatReference(r);
        const parsed = parseImageReference(s);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        const tagOrDefault = r.tag ?? (r.digest === undefined ? 'latest' : undefined);
        expect(parsed.ref.registry).toBe(r.registry);
        expect(parsed.ref.repository).toBe(r.repository);
        expect(parsed.ref.tag).toBe(tagOrDefault);
        expect(parsed.ref.digest).toBe(r.digest);
        expect(formatReference(parsed.ref)).toBe(formatReference({ ...r, tag: tagOrDefault }));
        assertIdempotent(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('given a generated Docker Hub short name should normalise it under docker.io', () => {
    fc.assert(
      fc.property(repository, fc.option(tag, { nil: undefined }), (repo, t) => {
        // A first component with a dot would be read as a registry, exactly as Docker does.
        fc.pre(!repo.includes('/') || !repo.split('/')[0]!.includes('.'));
        const parsed = parseImageReference(t === undefined ? repo : `${repo}:${t}`);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(parsed.ref.registry).toBe('docker.io');
        expect(parsed.ref.repository).toBe(repo.includes('/') ? repo : `library/${repo}`);
        assertIdempotent(parsed.ref.original);
      }),
      { numRuns: 1000 },
    );
  });

  it('given a valid reference and digest should expose the digest through the repo-digest imageID', () => {
    fc.assert(
      fc.property(reference, digest, (r, d) => {
        const id = digestFromImageID(`docker-pullable://${withDigest(r, d)}`);
        expect(id).toEqual({ kind: 'manifest', digest: d, name: `${r.registry}/${r.repository}` });
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['arbitrary unicode', fc.string({ unit: 'binary', maxLength: 300 })],
    ['printable text', fc.string({ maxLength: 300 })],
    ['reference-like text', referenceLike],
  ])('given %s should never throw and be idempotent when accepted', (_name, arb) => {
    fc.assert(
      fc.property(arb, (s) => {
        const r = parseImageReference(s);
        expect(typeof r.ok).toBe('boolean');
        expect(digestFromImageID(s).kind).toMatch(/^(manifest|config|none)$/);
        assertIdempotent(s);
      }),
      { numRuns: 3000 },
    );
  });

  it('given a mutated valid reference should never throw', () => {
    const mutated = fc
      .tuple(reference, fc.nat(), fc.constantFrom('', 'A', '/', ':', '@', '..', '[', ' ', '\u0000'))
      .map(([r, at, insert]) => {
        const s = formatReference(r);
        const i = at % (s.length + 1);
        return s.slice(0, i) + insert + s.slice(i + 1);
      });
    fc.assert(
      fc.property(mutated, (s) => {
        expect(() => parseImageReference(s)).not.toThrow();
        assertIdempotent(s);
      }),
      { numRuns: 3000 },
    );
  });
});
