/**
 * Reads tote's `tote.dev/*` annotations. Bad values never throw: they come back as problems naming the key, which
 * the watch layer turns into Warning events, and they read as the safest value (tote never acts on an annotation
 * it cannot understand).
 */
import { ANNOTATION_PREFIX, ANNOTATIONS, SALVAGE_MODES, type SalvageMode } from '../common/names.js';
import { annotatedMode, annotationText, booleanOf, INVALID_MODE, isSalvageMode } from '../common/opt-in.js';

/** Where an annotation sits: on a Namespace, or on a workload (Pod or one of its owners). */
export type AnnotationScope = 'namespace' | 'workload';

/** Where a key may be put: one scope, or either. */
export type AnnotationPlace = AnnotationScope | 'either';

/** Which object each known key belongs on. MAINTENANCE: add new {@link ANNOTATIONS} keys here too. */
export const ANNOTATION_SCOPES: Readonly<Record<string, AnnotationPlace>> = {
  [ANNOTATIONS.allow]: 'namespace',
  [ANNOTATIONS.mode]: 'namespace',
  [ANNOTATIONS.autoSalvage]: 'workload',
  [ANNOTATIONS.pullPolicyRemedy]: 'either',
  [ANNOTATIONS.pullPolicyChanged]: 'workload',
};

/** What is wrong with one annotation. */
export type AnnotationProblemKind = 'invalid-boolean' | 'invalid-mode' | 'unknown-key' | 'misplaced-key';

/** One bad `tote.dev/*` annotation; `key` names it so the Warning event can too. */
export interface AnnotationProblem {
  /** The annotation key, e.g. `tote.dev/auto-salvage`. */
  readonly key: string;
  /** Its value as found. */
  readonly value: string;
  /** Category, stable for tests and metrics. */
  readonly kind: AnnotationProblemKind;
  /** Human sentence naming the key, the value and what tote does instead. */
  readonly message: string;
}

/** The parsed values; a key is absent when the annotation is absent (or misplaced, or unknown). */
export interface ToteAnnotationValues {
  /** `tote.dev/allow`; an invalid value reads as false. */
  readonly allow?: boolean;
  /** `tote.dev/auto-salvage`; an invalid value reads as false. */
  readonly autoSalvage?: boolean;
  /** `tote.dev/pull-policy-remedy`; an invalid value reads as false. The worker acts on it, not the controller. */
  readonly pullPolicyRemedy?: boolean;
  /** `tote.dev/mode`; an invalid value reads as `detect-only`, the mode that changes nothing. */
  readonly mode?: SalvageMode;
}

/** Result of {@link readToteAnnotations}. */
export interface ToteAnnotations {
  /** Parsed values. */
  readonly values: ToteAnnotationValues;
  /** Every bad annotation, in key order. */
  readonly problems: readonly AnnotationProblem[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// Event messages are capped by the API (1 KiB); a pasted blob in an annotation must not crowd out the key.
const VALUE_PREVIEW_MAX = 64;

function quote(value: string): string {
  const v = value.length > VALUE_PREVIEW_MAX ? `${value.slice(0, VALUE_PREVIEW_MAX)}…` : value;
  return JSON.stringify(v);
}

function readBoolean(key: string, value: string, problems: AnnotationProblem[]): boolean {
  if (value !== 'true' && value !== 'false') {
    problems.push({
      key,
      value,
      kind: 'invalid-boolean',
      message: `annotation ${key} has value ${quote(value)}; only "true" or "false" are accepted, treated as "false"`,
    });
  }
  return booleanOf(value) === true;
}

/** The rule is common/opt-in.ts `annotatedMode`, which the worker applies too; this adds the problem report. */
function readMode(key: string, value: string, problems: AnnotationProblem[]): SalvageMode {
  if (!isSalvageMode(value)) {
    problems.push({
      key,
      value,
      kind: 'invalid-mode',
      message: `annotation ${key} has value ${quote(value)}; accepted: ${SALVAGE_MODES.join(', ')}; treated as "${INVALID_MODE}"`,
    });
  }
  return annotatedMode(value);
}

function checkKey(
  key: string,
  value: string,
  scope: AnnotationScope | undefined,
): AnnotationProblem | undefined {
  const belongs = ANNOTATION_SCOPES[key];
  if (belongs === undefined) {
    const known = Object.keys(ANNOTATION_SCOPES).join(', ');
    return {
      key,
      value,
      kind: 'unknown-key',
      message: `unknown annotation ${key}; tote reads only ${known}`,
    };
  }
  if (scope !== undefined && belongs !== 'either' && belongs !== scope) {
    const where = belongs === 'namespace' ? 'a Namespace' : 'a Pod or its owner';
    return {
      key,
      value,
      kind: 'misplaced-key',
      message: `annotation ${key} has no effect here; put it on ${where}`,
    };
  }
  return undefined;
}

function readKnown(
  key: string,
  value: string,
  into: Mutable<ToteAnnotationValues>,
  problems: AnnotationProblem[],
): void {
  if (key === ANNOTATIONS.allow) into.allow = readBoolean(key, value, problems);
  else if (key === ANNOTATIONS.autoSalvage) into.autoSalvage = readBoolean(key, value, problems);
  else if (key === ANNOTATIONS.mode) into.mode = readMode(key, value, problems);
  else if (key === ANNOTATIONS.pullPolicyRemedy) into.pullPolicyRemedy = readBoolean(key, value, problems);
}

/** An annotation value as text (kept here for the controller's callers; the rule lives in common/opt-in.ts). */
export { annotationText };

/**
 * Parses the `tote.dev/*` annotations of one object. Other annotations are ignored. With `scope`, a known key on
 * the wrong kind of object (e.g. `tote.dev/allow` on a Pod) is reported as `misplaced-key` and not read.
 * Never throws.
 */
export function readToteAnnotations(
  annotations: Readonly<Record<string, unknown>> | undefined,
  scope?: AnnotationScope,
): ToteAnnotations {
  const values: Mutable<ToteAnnotationValues> = {};
  const problems: AnnotationProblem[] = [];
  const keys = Object.keys(annotations ?? {})
    .filter((k) => k.startsWith(ANNOTATION_PREFIX))
    .sort();
  for (const key of keys) {
    const value = annotationText(annotations?.[key]);
    const keyProblem = checkKey(key, value, scope);
    if (keyProblem) problems.push(keyProblem);
    else readKnown(key, value, values, problems);
  }
  return { values, problems };
}
