/**
 * Typed keys of tote's search attributes (registered by the dev server flags in the sandbox and by
 * `temporal operator search-attribute create` on real clusters; names in common/names.ts).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeName } from '../common/names.js';

function keyword<N extends SearchAttributeName>(name: N) {
  return defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
}

/** Search attribute keys for `typedSearchAttributes` and `upsertSearchAttributes`. */
export const SA = {
  ImageDigest: keyword('ImageDigest'),
  TargetNode: keyword('TargetNode'),
  PodNamespace: keyword('PodNamespace'),
  PodName: keyword('PodName'),
  SalvagePhase: keyword('SalvagePhase'),
} as const;

/** Every key, for test servers started with `searchAttributes`. */
export const ALL_SEARCH_ATTRIBUTE_KEYS = Object.values(SA);
