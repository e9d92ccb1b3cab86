/**
 * Signals and queries of `salvageImage` (re-exported by workflows/index.ts for `tote approve`, the controller
 * and the CLI). MAINTENANCE: `transferProgress` is sent by activities/transfer.ts (TRANSFER_PROGRESS_SIGNAL).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { POD_JOINED_SIGNAL } from '../common/names.js';
import type { TransferProgress } from '../activities/types.js';
import type { DecisionArgs, JoinedPod, SalvageProgress } from './types.js';

/** Approves a salvage waiting in `approve` mode (`tote approve`, the Web UI). */
export const approveSignal = defineSignal<[DecisionArgs]>('approve');
/** Rejects a salvage waiting in `approve` mode. */
export const rejectSignal = defineSignal<[DecisionArgs]>('reject');
/** Phase, source, bytes done/total and attempts of the salvage. */
export const progressQuery = defineQuery<SalvageProgress>('progress');
/** Live progress from the transfer activity. */
export const transferProgressSignal = defineSignal<[TransferProgress]>('transferProgress');
/** Another pod needs the same image on the same node: restart it with the first (the controller sends it). */
export const podJoinedSignal = defineSignal<[JoinedPod]>(POD_JOINED_SIGNAL);
