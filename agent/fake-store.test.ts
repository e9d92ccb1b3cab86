import { storeContract } from '../test/agent-contract/store-contract.js';
import { FakeStore } from './fake-store.js';

describe('FakeStore passes the store contract', () => {
  let store = new FakeStore();
  beforeEach(() => {
    store = new FakeStore();
  });
  storeContract(() => ({ store }));
});
