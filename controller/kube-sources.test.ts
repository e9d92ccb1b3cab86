import type { KubeHttp } from '../infra/kube-http.js';
import { kubeOwnerFetcher } from './kube-sources.js';

function fakeHttp(objects: Record<string, unknown>): KubeHttp & { paths: string[] } {
  const paths: string[] = [];
  const unused = (): never => {
    throw new Error('not used');
  };
  return {
    server: 'https://fake',
    paths,
    get: async <T>(path: string): Promise<T | null> => {
      paths.push(path);
      return (objects[path] as T | undefined) ?? null;
    },
    post: unused,
    watch: unused,
  } as unknown as KubeHttp & { paths: string[] };
}

describe('kubeOwnerFetcher', () => {
  test('given a followed kind, should GET it at its REST path of common/opt-in.ts', async () => {
    const http = fakeHttp({
      '/apis/batch/v1/namespaces/shop/cronjobs/nightly': { metadata: { name: 'nightly' } },
    });
    const owner = await kubeOwnerFetcher(http).fetch({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      name: 'nightly',
      namespace: 'shop',
    });
    expect(owner).toEqual({ kind: 'CronJob', metadata: { name: 'nightly' } });
  });

  test('given a kind the opt-in does not follow, should answer null without a request', async () => {
    const http = fakeHttp({});
    const key = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'r', namespace: 'shop' };
    expect(await kubeOwnerFetcher(http).fetch(key)).toBeNull();
    expect(http.paths).toEqual([]);
  });
});
