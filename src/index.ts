/**
 * The library API of cla-worker: `import { createHub, createWorker, AdminClient } from 'cla-worker'`.
 * Explicit named exports (no `export *`), types kept apart; anything not listed here is internal.
 */

// Hub
export { createHub } from './hub/create-hub.ts';
export { Hub } from './hub/hub.ts';
export { DEFAULT_HUB_PORT, parseHubOptions } from './hub/hub-options.ts';
export { AdminClient } from './hub/admin-client.ts';
export { TaskHub } from './hub/tasks/task-hub.ts';
export { ActionsExtension } from './hub/actions/actions-extension.ts';
export { Registry } from './hub/registry.ts';
export { MemoryStore } from './store/memory-store.ts';
export { SqliteStore, openSqliteStore } from './store/sqlite-store.ts';

// Worker
export { createWorker, parseCreateWorkerOptions } from './worker/create-worker.ts';
export { checkAgentOptions, WorkerAgent } from './worker/agent.ts';
export { DEFAULT_HUB_URL, parseWorkerOptions } from './worker/options.ts';
export { registerWorker, unregisterWorker } from './worker/registration.ts';
export { WorkerPolicy } from './worker/policy.ts';

// Shared
export { ClaError, ErrorCode, FrameError, InvalidArgumentError } from './errors.ts';
export { systemClock } from './clock.ts';
export { createLogger, silentLogger } from './logger.ts';
export { CloseCode, PROTOCOL_VERSION } from './protocol/version.ts';

export type { CreateHubOptions, CreatedHub, HubStoreKind } from './hub/create-hub.ts';
export type { JobRow, ProjectRow, RegistryStore, WorkerRow } from './store/store.ts';
export type { HubChange, HubDeps } from './hub/hub.ts';
export type { HubOptions, ParsedHubOptions } from './hub/hub-options.ts';
export type { AdminHttpOptions } from './hub/admin-http.ts';
export type { JobEvent, JobInput, RunRequest } from './hub/job-events.ts';
export type { RunOptions } from './hub/job-runner.ts';
export type { CreateWorkerOptions, CreatedWorker } from './worker/create-worker.ts';
export type { AgentExit, AgentOptions } from './worker/agent.ts';
export type { WorkerOptions } from './worker/options.ts';
export type { HubCallOptions, Registration } from './worker/registration.ts';
export type { ClaErrorOptions, WireError } from './errors.ts';
export type { Clock } from './clock.ts';
export type { Logger, LoggerOptions } from './logger.ts';
export type { JobSpec, Target } from './protocol/frames.ts';
export type { ClientTlsOptions } from './transport/ws-client.ts';
export type { ServerTlsOptions } from './transport/ws-server.ts';
