#!/usr/bin/env node
/**
 * `resotoworker`: the same worker as `cla-worker run`, under the name, options and defaults of Resoto's
 * (../../../shared/seeds/resoto-worker.txt, "Options"): `--subscriber-id` (default `resoto.worker`),
 * `--psk`, `-v/--verbose`, `--quiet`, `--resotocore-uri`, `--override` (one or several `key=value`),
 * `--ca-cert`, `--cert`, `--cert-key`, `--cert-key-pass`, `--no-verify-certs`, each also read from
 * `RESOTOWORKER_<OPTION>` (dashes as underscores), then from `CLA_WORKER_<OPTION>`.
 *
 * As the document says, it discovers and loads every plugin (the built-in `fs`, the files of
 * `--plugins-dir`, installed `cla-worker-plugin-*` packages) unless `--plugin` names some, and it always
 * subscribes to `collect` and `cleanup` (answered with a note when no loaded plugin handles them),
 * `plan_cleanup` where a plugin plans, and the `tag` tasks of its plugins.
 *
 * The document's default core URI, `https://localhost:8900`, is resotocore's port; cla-hub listens on
 * ws://127.0.0.1:8733 by default (`cla-hub start --port`), so that is the default here.
 */
import { Command, Option } from 'commander';
import { ClaError, ErrorCode } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { WorkerAgent } from '../worker/agent.ts';
import { parseWorkerOptions, DEFAULT_HUB_URL, envVarName, type WorkerOptions } from '../worker/options.ts';
import { WorkerPolicy } from '../worker/policy.ts';
import { discoverPlugins } from '../worker/plugins/plugin-loader.ts';
import { createPluginWorker } from '../worker/plugins/setup.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../worker/subscriptions.ts';
import { createTaskExtension, parseTaskOptions } from '../worker/tasks/index.ts';
import { reportWorkerExit, workerTlsOptions } from './worker-exit.ts';
import { exitForUsage, guard, info, warn } from './say.ts';
import { hideSecretArguments, WORKER_SECRET_FLAGS } from './secret-options.ts';

// `--psk KEY` must not stay readable in /proc/PID/cmdline (issue 11, case 13).
hideSecretArguments(Object.values(WORKER_SECRET_FLAGS));

/** Resoto's default subscriber id. */
export const RESOTO_SUBSCRIBER_ID = 'resoto.worker';
/** Prefixes of the variables `resotoworker` reads, first wins. */
export const RESOTOWORKER_ENV_PREFIXES = ['RESOTOWORKER_', 'CLA_WORKER_'] as const;
/** Actions a Resoto worker always subscribes to (document: "By default, it subscribes to the collect and cleanup actions"). */
const DEFAULT_ACTIONS = ['collect', 'cleanup'] as const;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const env = (option: string) => envVarName(option, RESOTOWORKER_ENV_PREFIXES[0]);

const program = new Command('resotoworker')
  .description('Resoto Worker: connects to the hub (Resoto Core) over a websocket and waits for instructions: collect and cleanup actions, tag tasks.')
  .option('--subscriber-id <SUBSCRIBER_ID>', `Unique subscriber ID (default: ${RESOTO_SUBSCRIBER_ID})`)
  .option('--psk <PSK>', "Pre-shared key (the hub's `cla-hub start --psk`)")
  .option('-v, --verbose', 'Verbose logging')
  .option('--quiet', 'Only log errors')
  .option('--resotocore-uri <RESOTOCORE_URI>', `Resoto Core URI: the hub; http(s):// means ws(s):// (default: ${DEFAULT_HUB_URL}, cla-hub's own default, not Resoto's https://localhost:8900)`)
  .addOption(new Option('--override <CONFIG_OVERRIDE...>', 'Override config attribute(s): one or several key=value, e.g. fs.roots=/data/tmp fs.older_than=7d'))
  .option('--ca-cert <CA_CERT>', 'Path to custom CA certificate file')
  .option('--cert <CERT>', 'Path to custom certificate file')
  .option('--cert-key <CERT_KEY>', 'Path to custom certificate key file')
  .option('--cert-key-pass <CERT_KEY_PASS>', 'Passphrase for certificate key file')
  .option('--no-verify-certs', 'Turn off certificate verification')
  .option('--plugins-dir <dir>', `Also load plugins from the files of this folder (env ${env('pluginsDir')})`)
  .addOption(new Option('--plugin <name>', 'Load only these plugins (repeatable; default: every plugin found)').argParser(collect))
  .option('-c, --config <file>', 'cla-worker.yml to read settings (and a registration) from')
  .option('--fork', 'Accepted for Resoto compatibility and ignored: plugins run in the worker process')
  .addHelpText(
    'after',
    `
Every option can also be set through an environment variable: the option's name upper-cased with the
prefix RESOTOWORKER_ and dashes replaced by underscores, e.g. ${env('psk')}=secret,
${env('resotocoreUri')}=https://hub.example:8733, ${env('noVerifyCerts')}=true,
${env('override')}="fs.roots=/data/tmp fs.older_than=7d". CLA_WORKER_<OPTION> is read after it.

Defaults that differ from Resoto's: the hub URI is ${DEFAULT_HUB_URL} (cla-hub's default listener;
Resoto Core's https://localhost:8900 is not where cla-hub listens). Without --psk the worker needs a
registration (cla-worker register --save) in cla-worker.yml.`,
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(exitForUsage)
  .action((flags: Record<string, unknown>) => guard(() => run(flags)));

function loadOptions(flags: Record<string, unknown>): WorkerOptions {
  const { plugin: _plugin, pluginsDir: _dir, fork: _fork, ...rest } = flags;
  const options = parseWorkerOptions({
    flags: rest,
    env: process.env,
    cwd: process.cwd(),
    envPrefixes: RESOTOWORKER_ENV_PREFIXES,
    defaultSubscriberId: RESOTO_SUBSCRIBER_ID,
  });
  for (const key of options.unknownConfigKeys) warn(`${options.config}: unknown key \`${key}\` ignored`);
  return options;
}

async function run(flags: Record<string, unknown>): Promise<void> {
  const options = loadOptions(flags);
  if (flags.fork || process.env[env('fork')]) info('--fork: this worker has no fork mode; plugins run in the worker process (ignored)');
  if (options.psk === undefined && (options.id === undefined || options.token === undefined)) {
    throw new ClaError(
      ErrorCode.ConfigMissing,
      `No pre-shared key: pass --psk PSK (the key given to \`cla-hub start --psk\`) or set ${env('psk')}, or save a registration with \`cla-worker register --save --passkey KEY\``,
    );
  }
  // With a PSK and no registration the hub admits the subscriber id itself, as resotocore does.
  const id = options.token !== undefined && options.id !== undefined ? options.id : options.subscriberId;
  const log = createLogger({ name: 'resotoworker', verbose: options.verbose, quiet: options.quiet });
  // Secrets (psk, key passphrase, override values) stay out of the log: only whether they are set.
  log.debug(
    { subscriberId: options.subscriberId, url: options.url, psk: options.psk !== undefined, overrides: Object.keys(options.overrides), caCert: options.caCert, cert: options.cert, verifyCerts: !options.noVerifyCerts, config: options.config },
    'resotoworker options',
  );
  const subscriptions = new SubscriptionRegistry(options.subscriberId);
  const policy = new WorkerPolicy({ allow: options.allow, deny: options.deny, roots: options.roots });
  const tasks = createTaskExtension(subscriptions, parseTaskOptions({}), { policy });
  const pluginsDir = (flags.pluginsDir as string | undefined) ?? process.env[env('pluginsDir')] ?? process.env.CLA_WORKER_PLUGINS_DIR;
  const found = await discoverPlugins({ pluginsDir });
  const plugins = await createPluginWorker({
    workerId: id,
    overrides: options.overrides,
    plugins: found,
    enabled: (flags.plugin as string[] | undefined) ?? found.map((f) => f.plugin.name),
    subscriptions,
    tasks,
    log,
  });
  for (const p of plugins.plugins) info(`plugin ${p.name} (${p.kind}, ${p.source}): actions ${p.actions.join(', ') || '-'}; tasks ${p.tasks.join(', ') || '-'}`);
  for (const action of DEFAULT_ACTIONS) {
    if (plugins.actions.actions().includes(action)) continue;
    plugins.actions.on(action, (ctx) => ctx.info('info', `${options.subscriberId}: no loaded plugin handles ${action}`), { name: 'resotoworker' });
  }
  const agent = new WorkerAgent({
    id,
    token: options.token,
    psk: options.token === undefined ? options.psk : undefined,
    url: options.urls,
    tags: options.tags,
    envs: options.envs,
    capacity: options.concurrency,
    policy,
    tls: workerTlsOptions(options),
    log,
    extensions: [new SubscribeExtension(subscriptions), tasks, plugins.extension],
  });
  info(`starting resotoworker ${options.subscriberId} for ${options.urls.join(", ")}: actions ${plugins.actions.actions().join(', ')}; tasks ${subscriptions.taskHandlers().map((h) => h.spec.name).join(', ') || '-'}`);
  process.once('SIGINT', () => agent.stop('SIGINT received'));
  process.once('SIGTERM', () => agent.stop('SIGTERM received'));
  reportWorkerExit(id, await agent.run());
}

await program.parseAsync(process.argv);
