/** The worker's side of the action bus: explicit exports, types apart. */
export { ActionExtension } from './action-extension.ts';
export { GraphWriter, MAX_BATCH_CHARS, MAX_BATCH_RESOURCES } from './graph-writer.ts';

export type { ActionContext, ActionHandler, ActionHandlerOptions, ActionSubscriptions } from './action-extension.ts';
