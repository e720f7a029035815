/** The action bus, workflows and resource graphs of the hub: explicit exports (no `export *`). */
export { ActionsExtension } from './actions-extension.ts';
export { ActionBus } from './action-bus.ts';
export { parseResourceCommand } from './resource-command.ts';
export { canonicalKey, matchesQuery, parseResourceQuery, resourceValue } from './resource-query.ts';
export { MAX_TAG_MATCHES, runTagLine, tagChange, tagResources, tagTaskAttrs } from './resource-tagging.ts';
export { SubscriberDirectory } from './subscriber-directory.ts';
export { MemoryResourceStore } from './memory-resource-store.ts';
export { MemoryWorkflowStore, MemoryWorkflowTables } from './memory-workflow-store.ts';
export { ResourceGraphIntake } from './resource-graph-intake.ts';
export { SqliteResourceStore } from './sqlite-resource-store.ts';
export { SqliteWorkflowStore } from './sqlite-workflow-store.ts';
export {
  BUILTIN_WORKFLOWS_DIR,
  loadWorkflowDir,
  loadWorkflows,
  parseDuration,
  parseWorkflowDefinition,
  toWorkflowDefinition,
  WorkflowDefinitionError,
} from './workflow-definitions.ts';
export { WorkflowEngine } from './workflow-engine.ts';
export { searchResources, workflowMethods } from './workflow-methods.ts';
export { stepMessageId, WorkflowRunRuntime } from './workflow-run-runtime.ts';
export { CronScheduler } from './workflow-scheduler.ts';
export { ACTIVE_RUN_STATES, MAX_MESSAGES_PER_ANSWER } from './workflow-store.ts';

export type { ActionsExtensionOptions } from './actions-extension.ts';
export type { ActionTarget, AnswerFrame, BusListener, Subscriber } from './action-bus.ts';
export type { Comparison, QueryableResource, QueryOp, ResourceQuery } from './resource-query.ts';
export type { BatchOutcome } from './resource-graph-intake.ts';
export type { ResourceCount, ResourceStore, StoredResource } from './resource-store.ts';
export type { SqliteActionsStoreOptions } from './sqlite-workflow-store.ts';
export type { ResourceCommand, TagCommand } from './resource-command.ts';
export type { TagChange, TaggingDeps, TaggingOptions, TagOutcome, TagSummary } from './resource-tagging.ts';
export type { SubscriberView } from './subscriber-directory.ts';
export type { OnConflict, StepDefinition, Trigger, WorkflowDefinition } from './workflow-definitions.ts';
export type { TaskSubmitter, TriggerResult, WorkflowEngineDeps, WorkflowEngineOptions } from './workflow-engine.ts';
export type { RunRuntimeDeps } from './workflow-run-runtime.ts';
export type { AnswerRow, MessageRow, NewRun, NewStep, RunDetail, RunPatch, RunRow, RunState, StepPatch, StepRow, StoredRun, WorkflowStore, WorkflowStoreOptions } from './workflow-store.ts';
