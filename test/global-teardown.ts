import { killLeftovers } from './harness/run.js';

/** Reaps any sandbox process a crashed or timed-out test left behind. */
export default async function globalTeardown(): Promise<void> {
  killLeftovers();
}
