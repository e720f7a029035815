/**
 * The one place a worker is assembled: policy, action subscriptions, task handlers, plugins and the
 * agent, in the order they depend on each other. `cla-worker run`, tests and library users call
 * {@link createWorker}.
 */
import { InvalidArgumentError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { checkInteger, checkKnownKeys, checkObject, checkString, checkStringList } from '../option-checks.ts';
import { FrameRecorder } from '../transport/recorder.ts';
import type { ClientTlsOptions } from '../transport/ws-client.ts';
import { checkAgentOptions, WorkerAgent, type AgentExit } from './agent.ts';
import type { LeftoverTracker } from './leftovers.ts';
import { DEFAULT_HUB_URL, DEFAULT_SUBSCRIBER_ID } from './options.ts';
import { createPluginWorker, type PluginWorker } from './plugins/setup.ts';
import { WorkerPolicy } from './policy.ts';
import { SubscribeExtension, SubscriptionRegistry } from './subscriptions.ts';
import { createTaskExtension, parseTaskHandlerSpec, type TaskExtension, type TaskHandlerOption } from './tasks/index.ts';
import { DEFAULT_TASK_CONCURRENCY } from './tasks/task-extension.ts';

/** Options for {@link createWorker}. */
export interface CreateWorkerOptions {
  /** The worker id, as registered (`registerWorker()` or `cla-worker register`). Required. */
  id: string;
  /** The registration token. Required unless `psk` is given. */
  token?: string;
  /** The hub's pre-shared key (`cla-hub start --psk`), instead of a registration. @default undefined */
  psk?: string;
  /** The hub's websocket URL, or several hubs' URLs to move between on disconnect. @default 'ws://127.0.0.1:8733' */
  url?: string | string[];
  /** Capabilities offered to the hub, e.g. `['java', 'nodejs']`. @default [] */
  tags?: string[];
  /** Environments served, e.g. `['QA']` (must exist on the hub). @default [] */
  envs?: string[];
  /** Jobs run at once, 1-10000. @default 1 */
  concurrency?: number;
  /** Only these verbs (`exec`, `eval`, `ship`, `fetch`, `probe`). @default [] (all) */
  allow?: string[];
  /** Refuse these verbs (applied after `allow`). @default [] */
  deny?: string[];
  /** Ship and fetch only inside these folders. @default [] (anywhere) */
  roots?: string[];
  /** The id used for action subscriptions. @default `id` */
  subscriberId?: string;
  /** Tasks run at once, 1-10000. @default 4 */
  taskConcurrency?: number;
  /** Leased tasks queued beyond `taskConcurrency` (prefetch); with it at most 10000. @default max(taskConcurrency, 16) */
  taskPrefetch?: number;
  /** Built-in task handlers, `NAME[:attr=value,...]`, e.g. `['echo', 'shell:cloud=aws']`, or parsed. @default [] */
  taskHandlers?: Array<string | TaskHandlerOption>;
  /** Load plugins from the files of this folder. @default undefined */
  pluginsDir?: string;
  /** Plugins to enable by name, e.g. `['fs']`. @default [] */
  plugins?: string[];
  /** Settings, `NAME.key` => value for plugin NAME (as `--override`). @default {} */
  overrides?: Record<string, string>;
  /** TLS for `wss://` (CA, client certificate, verification). @default system CAs, verified */
  tls?: ClientTlsOptions;
  /** Record every frame to this file. @default undefined */
  record?: string;
  /** Where the worker logs (pino); connection steps and each job's start and end are at debug level. @default a silent logger */
  log?: Logger;
  /** Records running jobs and transfer temp files in the state folder, so the next start cleans up after a crash (`openLeftovers`). @default undefined (nothing recorded) */
  leftovers?: LeftoverTracker;
  /** Told about problems worth a person's attention, such as a recording file whose mode was too wide. @default log.warn */
  warn?: (message: string) => void;
}

const CREATE_KEYS = ['id', 'token', 'psk', 'url', 'tags', 'envs', 'concurrency', 'allow', 'deny', 'roots', 'subscriberId', 'taskConcurrency', 'taskPrefetch', 'taskHandlers', 'pluginsDir', 'plugins', 'overrides', 'tls', 'record', 'log', 'leftovers', 'warn'] as const;

/** A worker built by {@link createWorker}, not yet connected. */
export interface CreatedWorker {
  /** The agent: `run()`, `stop()`. */
  readonly agent: WorkerAgent;
  /** The plugins started (name, kind, source, actions, tasks). */
  readonly plugins: PluginWorker['plugins'];
  /** The task extension: `handle(name, filter, handler)` adds a task handler of your own before `run()`. */
  readonly tasks: TaskExtension;
  /** The subscriptions the worker announces (actions and task handlers). */
  readonly subscriptions: SubscriptionRegistry;
  /** Connects (reconnecting with backoff) and resolves when the worker ends: `stop()`, a refusal, a hub shutdown. */
  run(): Promise<AgentExit>;
  /** Lets running jobs finish (up to the grace period) and disconnects. */
  stop(reason?: string): void;
}

/**
 * Checks `createWorker`'s options (types, ranges, mutually exclusive ones) and fills the defaults.
 * @throws InvalidArgumentError naming the option, its value and what was expected
 */
export function parseCreateWorkerOptions(options: CreateWorkerOptions): Required<Omit<CreateWorkerOptions, 'token' | 'psk' | 'pluginsDir' | 'tls' | 'record' | 'log' | 'leftovers' | 'warn' | 'taskPrefetch'>> & CreateWorkerOptions {
  const input = checkObject('options', options) as unknown as CreateWorkerOptions;
  checkKnownKeys('createWorker', input as unknown as Record<string, unknown>, CREATE_KEYS);
  const allow = checkStringList('allow', input.allow);
  const deny = checkStringList('deny', input.deny);
  const tls = checkObject('tls', input.tls) as ClientTlsOptions;
  // Options that only mean something together.
  if (tls.key !== undefined && tls.cert === undefined) throw new InvalidArgumentError('Expected `tls.cert` to be set when `tls.key` is, got `undefined`', { data: { option: 'tls.cert' } });
  if (tls.passphrase !== undefined && tls.key === undefined) throw new InvalidArgumentError('Expected `tls.key` to be set when `tls.passphrase` is, got `undefined`', { data: { option: 'tls.passphrase' } });
  const parsed = {
    ...input,
    url: Array.isArray(input.url) ? checkStringList('url', input.url) : (checkString('url', input.url) ?? DEFAULT_HUB_URL),
    tags: checkStringList('tags', input.tags),
    envs: checkStringList('envs', input.envs),
    concurrency: checkInteger('concurrency', input.concurrency, 1, 1, 10_000),
    allow,
    deny,
    roots: checkStringList('roots', input.roots),
    subscriberId: checkString('subscriberId', input.subscriberId) ?? input.id ?? DEFAULT_SUBSCRIBER_ID,
    taskConcurrency: checkInteger('taskConcurrency', input.taskConcurrency, DEFAULT_TASK_CONCURRENCY, 1, 10_000),
    taskPrefetch: input.taskPrefetch === undefined ? undefined : checkInteger('taskPrefetch', input.taskPrefetch, 0, 0, 10_000),
    taskHandlers: (input.taskHandlers === undefined ? [] : Array.isArray(input.taskHandlers) ? input.taskHandlers : [input.taskHandlers]).map((spec) =>
      typeof spec === 'string' ? parseTaskHandlerSpec(spec, 'taskHandlers') : (checkObject('taskHandlers[]', spec) as unknown as TaskHandlerOption),
    ),
    plugins: checkStringList('plugins', input.plugins),
    overrides: checkObject('overrides', input.overrides) as Record<string, string>,
  };
  checkString('pluginsDir', input.pluginsDir);
  checkString('record', input.record);
  checkAgentOptions({ id: parsed.id, token: parsed.token, psk: parsed.psk, url: parsed.url, tags: parsed.tags, envs: parsed.envs, capacity: parsed.concurrency });
  return parsed;
}

/**
 * Assembles a worker: checks the options, starts the plugins, and returns the agent ready to `run()`.
 *
 * @example
 * const worker = await createWorker({ id: reg.id, token: reg.token, url, tags: ['nodejs'] });
 * const exit = await worker.run();   // until worker.stop()
 *
 * @throws InvalidArgumentError for a bad option, a bad plugin or plugin setting
 */
export async function createWorker(options: CreateWorkerOptions): Promise<CreatedWorker> {
  const o = parseCreateWorkerOptions(options);
  const log = o.log ?? silentLogger();
  const policy = new WorkerPolicy({ allow: o.allow, deny: o.deny, roots: o.roots });
  // One `subscribe` for every feature: they add to `subscriptions`, SubscribeExtension sends it.
  const subscriptions = new SubscriptionRegistry(o.subscriberId);
  const tasks = createTaskExtension(subscriptions, { concurrency: o.taskConcurrency, prefetch: o.taskPrefetch, handlers: o.taskHandlers as TaskHandlerOption[] }, { policy });
  // Plugins answer actions (collect, plan_cleanup, cleanup, ...) and add task handlers (tag).
  const plugins = await createPluginWorker({ workerId: o.id, overrides: o.overrides, pluginsDir: o.pluginsDir, enabled: o.plugins, subscriptions, tasks, log });
  const recorder = o.record === undefined ? undefined : new FrameRecorder(o.record, undefined, 'worker', o.warn ?? ((message) => log.warn(message)));
  const agent = new WorkerAgent({
    id: o.id,
    token: o.token,
    psk: o.psk,
    url: o.url,
    tags: o.tags,
    envs: o.envs,
    capacity: o.concurrency,
    policy,
    tls: o.tls,
    tap: recorder,
    log,
    leftovers: o.leftovers,
    extensions: [new SubscribeExtension(subscriptions), tasks, plugins.extension],
  });
  return {
    agent,
    plugins: plugins.plugins,
    tasks,
    subscriptions,
    async run() {
      try {
        return await agent.run();
      } finally {
        recorder?.close();
      }
    },
    stop: (reason = 'stopped') => agent.stop(reason),
  };
}
