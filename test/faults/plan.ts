/**
 * The fault plan: for each salvage, the image (size, layers), where it lives, where it must go, and the one fault
 * injected into it (component, moment, delay before the restart). Pure: the same seed gives the same plan, and a
 * shorter run (`TOTE_FAULT_SALVAGES=n`) is the first n salvages of the full plan.
 */
import { mulberry32, type Prng } from './prng.js';

/** What can be killed. */
export const COMPONENTS = ['worker', 'source-agent', 'target-agent', 'controller', 'temporal'] as const;
/** A killable component. */
export type Component = (typeof COMPONENTS)[number];

/** When, relative to the transfer, the kill happens. */
export const MOMENTS = ['before-transfer', 'mid-transfer', 'after-transfer'] as const;
/** A moment of a salvage. */
export type Moment = (typeof MOMENTS)[number];

/** One injected fault. */
export interface FaultSpec {
  component: Component;
  moment: Moment;
  /** How long the component stays down (SIGKILL → start). */
  delayMs: number;
  /** mid-transfer: kill once the progress query shows at least this share of the bytes. */
  atFraction: number;
  /** before-transfer, controller: wait this long after the pod fails (the controller may or may not have acted). */
  jitterMs: number;
}

/** One salvage of the suite and its fault. */
export interface SalvagePlan {
  /** 1-based position in the plan. */
  index: number;
  /** Short name: `s01` … */
  name: string;
  /** Namespace of its Deployment and pod (one per salvage, so records and events never mix). */
  namespace: string;
  layers: number;
  /** Bytes of each layer. */
  layerSize: number;
  /** Seed of the image content, so the digests are reproducible too. */
  imageSeed: string;
  /** Nodes that hold the image before the salvage. */
  holders: string[];
  /** Node the pod runs on, where the image must land. */
  target: string;
  /** How the pod names the image: by tag (resolved through Node.status.images) or pinned by digest. */
  refKind: 'tag' | 'digest';
  fault: FaultSpec;
}

/** The whole plan. */
export interface FaultPlan {
  seed: number;
  nodes: string[];
  salvages: SalvagePlan[];
}

/** Options of {@link generatePlan}. */
export interface PlanOptions {
  seed: number;
  /** Salvages to plan (the first n of the full plan of `total`). */
  salvages: number;
  /** Size of the full plan. @default 20 */
  total?: number;
  /** Node count (node-1 … node-N). @default 4 */
  nodes?: number;
  /** Smallest and largest image, in MiB. @default [8, 48] */
  sizeMiB?: [number, number];
  /** Shortest and longest downtime, in ms. @default [500, 5000] */
  delayMs?: [number, number];
}

const MiB = 1 << 20;

/**
 * Components and moments in blocks of five: each block kills every component once, in a shuffled order, and over
 * the first three blocks every component meets every moment. So any prefix of five or more covers all components,
 * and the full twenty cover all fifteen (component, moment) pairs.
 */
function faultSlots(rng: Prng, total: number): { component: Component; moment: Moment }[] {
  const offset = new Map(COMPONENTS.map((c) => [c, rng.int(0, MOMENTS.length - 1)]));
  const slots: { component: Component; moment: Moment }[] = [];
  for (let block = 0; slots.length < total; block++) {
    for (const component of rng.shuffle(COMPONENTS)) {
      const moment =
        block < MOMENTS.length
          ? (MOMENTS[(block + (offset.get(component) ?? 0)) % MOMENTS.length] as Moment)
          : rng.pick(MOMENTS);
      slots.push({ component, moment });
    }
  }
  return slots.slice(0, total);
}

function placement(rng: Prng, nodes: string[]): { holders: string[]; target: string } {
  const order = rng.shuffle(nodes);
  const holderCount = rng.chance(0.5) ? 2 : 1;
  return { holders: order.slice(0, holderCount).sort(), target: order[holderCount] as string };
}

/** Generates the plan of `opts.salvages` salvages from `opts.seed`. */
export function generatePlan(opts: PlanOptions): FaultPlan {
  const total = opts.total ?? 20;
  if (!Number.isInteger(opts.salvages) || opts.salvages < 1 || opts.salvages > total)
    throw new Error(`salvages must be an integer from 1 to ${total}, got ${opts.salvages}`);
  const rng = mulberry32(opts.seed);
  const nodes = Array.from({ length: opts.nodes ?? 4 }, (_, i) => `node-${i + 1}`);
  const [minMiB, maxMiB] = opts.sizeMiB ?? [8, 48];
  const [minDelay, maxDelay] = opts.delayMs ?? [500, 5000];
  const slots = faultSlots(rng, total);
  const salvages = slots.map((slot, i): SalvagePlan => {
    const layers = rng.int(2, 4);
    const totalMiB = rng.int(minMiB, maxMiB);
    const name = `s${String(i + 1).padStart(2, '0')}`;
    return {
      index: i + 1,
      name,
      namespace: `faults-${name}`,
      layers,
      layerSize: Math.max(1, Math.round((totalMiB * MiB) / layers)),
      imageSeed: `fault-${opts.seed}-${name}`,
      ...placement(rng, nodes),
      refKind: rng.chance(0.5) ? 'tag' : 'digest',
      fault: {
        ...slot,
        delayMs: rng.int(minDelay, maxDelay),
        atFraction: Math.round((0.15 + rng.next() * 0.6) * 100) / 100,
        jitterMs: rng.int(0, 150),
      },
    };
  });
  return { seed: opts.seed, nodes, salvages: salvages.slice(0, opts.salvages) };
}
