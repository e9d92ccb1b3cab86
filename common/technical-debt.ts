/**
 * The sentence every image Warning ends with, whoever emits it: the controller (an image it cannot salvage) and
 * the worker (every Warning a workflow records). docs/cli-reference.md (events) and docs/SKILL.md quote it.
 */
export const TECHNICAL_DEBT =
  'This is technical debt: rebuild the image and push it to a registry the cluster can pull from.';
