/**
 * `cla-worker register`, `unregister`, `run` (and, from worker-daemon.ts, `start`, `status`, `stop`,
 * `service`): register with a hub, run in the foreground, unregister. Options come from flags,
 * `CLA_WORKER_*` variables and cla-worker.yml (src/worker/options.ts); this file only wires them.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { ClaError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { createWorker } from '../worker/create-worker.ts';
import { CONFIG_FILE_NAME, saveRegistration } from '../worker/config-file.ts';
import { openLeftovers, type SweepReport } from '../worker/leftovers.ts';
import { stateDirFor } from '../worker/state-dir.ts';
import { envVarName, parseWorkerOptions, requireCredentials, type WorkerOptions } from '../worker/options.ts';
import { registerWorker, unregisterWorker } from '../worker/registration.ts';
import { parseTaskOptions } from '../worker/tasks/index.ts';
import { guard, info, line, success, warn } from './say.ts';
import { registerDaemonCommands } from './worker-daemon.ts';
import { reportWorkerExit, workerTlsOptions } from './worker-exit.ts';
import { resolveSecretFiles, WORKER_SECRET_FLAGS } from './secret-options.ts';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Options every command that talks to the hub accepts. No defaults here: they would hide env and file. */
function connectionOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file (env CLA_WORKER_CONFIG; else ./cla-worker.yml, ~/cla-worker.yml, /etc/cla-worker.yml)')
    .addOption(new Option('--url <url>', 'hub websocket URL (default ws://127.0.0.1:8733); repeat it for several hubs, `run` moves to the next on disconnect').argParser(collect))
    .option('--resotocore-uri <uri>', "the same as --url (Resoto's name; https:// means wss://)")
    .option('--ca-cert <file>', 'CA certificate to trust for wss://')
    .option('--cert <file>', 'client certificate for mutual TLS')
    .option('--cert-key <file>', 'key of the client certificate')
    .option('--cert-key-pass <pass>', 'passphrase of the client key')
    .option('--cert-key-pass-file <file>', 'read the passphrase of the client key from this file (env CLA_WORKER_CERT_KEY_PASS_FILE)')
    .option('--no-verify-certs', 'turn off TLS certificate verification')
    .option('-v, --verbose', 'verbose logging')
    .option('--quiet', 'only log errors');
}

function loadOptions(flags: Record<string, unknown>, implicitRegistration = true): WorkerOptions {
  const secrets = resolveSecretFiles(flags, process.env, WORKER_SECRET_FLAGS, envVarName, warn);
  const options = parseWorkerOptions({ flags: secrets.flags, env: secrets.env, cwd: process.cwd(), implicitRegistration });
  for (const key of options.unknownConfigKeys) warn(`${options.config}: unknown key \`${key}\` ignored`);
  return options;
}

const tlsOptions = workerTlsOptions;

/** Adds every worker command to `program`. */
export function registerWorkerCommands(program: Command): void {
  connectionOptions(
    program
      .command('register')
      .description('register this worker with a project passkey and print its id and token')
      .option('--passkey <key>', 'project passkey (env CLA_WORKER_PASSKEY or `passkey` in the config file)')
      .option('--passkey-file <file>', 'read the project passkey from this file (env CLA_WORKER_PASSKEY_FILE)')
      .option('--id <id>', 'worker id (random when omitted)')
      .option('--token <token>', "this worker's token, to add another project to an existing id")
      .option('--token-file <file>', "read this worker's token from this file (env CLA_WORKER_TOKEN_FILE)")
      .option('--save [file]', `save the registration to ${CONFIG_FILE_NAME} (or the given file), mode 0600`),
  ).action((flags) =>
    guard(async () => {
      const { save, ...rest } = flags as { save?: string | boolean } & Record<string, unknown>;
      const options = loadOptions(rest, false);
      if (!options.passkey) {
        throw new ClaError('CONFIG_MISSING', 'No passkey: pass --passkey KEY (get it with `cla-hub project passkey NAME`), set CLA_WORKER_PASSKEY, or put `passkey:` in cla-worker.yml');
      }
      const result = await registerWorker({ url: options.url, passkey: options.passkey, id: options.id, token: options.token, tls: tlsOptions(options) });
      info(`Registration token: ${result.token}`);
      info(`Projects registered: ${JSON.stringify(result.projects)}`);
      if (save !== undefined) {
        const file = typeof save === 'string' ? path.resolve(save) : (options.config ?? path.resolve(CONFIG_FILE_NAME));
        saveRegistration(file, { id: result.id, token: result.token, ...(flags.url ? { url: options.url } : {}) });
        info(`Registration saved to ${file}`);
        info('Start the worker with the following command:');
        line(`cla-worker run --id ${result.id}${typeof save === 'string' ? ` --config ${file}` : ''}`);
      } else {
        info('Start the worker with the following command:');
        line(`cla-worker run --id ${result.id} --token ${result.token}${flags.url ? ` --url ${options.url}` : ''}`);
      }
    }),
  );

  connectionOptions(
    program
      .command('unregister')
      .description('remove this worker from the hub (or from one project with --project)')
      .option('--id <id>', 'worker id')
      .option('--token <token>', 'worker token')
      .option('--token-file <file>', 'read the worker token from this file (env CLA_WORKER_TOKEN_FILE)')
      .option('--project <name>', 'unregister from this project only'),
  ).action((flags) =>
    guard(async () => {
      const { project, ...rest } = flags as { project?: string } & Record<string, unknown>;
      const options = loadOptions(rest);
      requireCredentials(options);
      const remaining = await unregisterWorker({ url: options.url, id: options.id, token: options.token, project, tls: tlsOptions(options) });
      success(`worker ${options.id} unregistered${project ? ` from project ${project}` : ''}`);
      if (remaining.length > 0) info(`still registered in projects: ${JSON.stringify(remaining)}`);
    }),
  );

  connectionOptions(
    program
      .command('run')
      .description('connect to the hub and run jobs in the foreground')
      .option('--id <id>', 'worker id (from cla-worker.yml when it has one registration)')
      .option('--token <token>', 'worker token (hidden from ps once started; --token-file keeps it off the command line)')
      .option('--token-file <file>', 'read the worker token from this file (env CLA_WORKER_TOKEN_FILE)')
      .option('--tags <tags>', 'comma separated capabilities, e.g. java,nodejs')
      .addOption(new Option('--tag <tag>', 'one capability (repeatable)').argParser(collect))
      .option('--envs <envs>', 'comma separated environments, e.g. QA,PROD (must exist on the hub)')
      .addOption(new Option('--env <env>', 'one environment (repeatable)').argParser(collect))
      .option('--concurrency <n>', 'jobs run at once')
      .option('--allow <verbs>', 'only allow these verbs (exec,eval,ship,fetch,probe)')
      .option('--deny <verbs>', 'refuse these verbs, e.g. eval')
      .addOption(new Option('--root <dir>', 'ship/fetch only inside this folder (repeatable)').argParser(collect))
      .option('--record <file>', 'record every frame to this file')
      .option('--state-dir <dir>', 'where running jobs and transfers are recorded, so a restart after a crash cleans up (env CLA_WORKER_STATE_DIR; default ~/.local/state/cla-worker/ID)')
      .option('--psk <key>', "the hub's pre-shared key, instead of a registration (cla-hub start --psk)")
      .option('--psk-file <file>', "read the hub's pre-shared key from this file (env CLA_WORKER_PSK_FILE)")
      .option('--subscriber-id <id>', 'worker id when connecting with --psk (default: --id, else cla.worker)')
      .addOption(new Option('--override <key=value...>', 'override a setting, e.g. fs.roots=/data (repeatable)'))
      .option('--task-concurrency <n>', 'tasks run at once (env CLA_WORKER_TASK_CONCURRENCY; default 4)')
      .option('--task-prefetch <n>', 'leased tasks queued beyond --task-concurrency, so a burst never waits on the hub (env CLA_WORKER_TASK_PREFETCH; default max(concurrency, 16); 0 for long tasks)')
      .addOption(new Option('--task-handler <name[:attr=value,...]>', 'handle tasks with a built-in handler (echo, shell), optionally filtered (repeatable)').argParser(collect))
      .option('--plugins-dir <dir>', 'load worker plugins from the files of this folder (env CLA_WORKER_PLUGINS_DIR)')
      .addOption(new Option('--plugin <name>', 'enable a plugin, e.g. fs (repeatable; configure it with --override NAME.key=value)').argParser(collect)),
  ).action((flags) =>
    guard(async () => {
      const options = loadOptions(flags);
      if (options.psk !== undefined && options.token === undefined) {
        // Resoto-style: no registration, the hub admits the subscriber id by its pre-shared key.
        options.id = options.id ?? options.subscriberId;
      } else requireCredentials(options);
      // Jobs inherit the worker's environment: a secret given there must not reach the commands it runs.
      for (const name of Object.keys(WORKER_SECRET_FLAGS)) delete process.env[envVarName(name)];
      const id = options.id!;
      const log = createLogger({ name: 'worker', verbose: options.verbose, quiet: options.quiet });
      const stateDir = stateDirFor(id, options.stateDir);
      const leftovers = openLeftovers(stateDir, log);
      reportLeftovers(leftovers.report, stateDir);
      const taskOptions = parseTaskOptions(flags);
      const worker = await createWorker({
        id,
        token: options.token,
        psk: options.psk,
        url: options.urls,
        tags: options.tags,
        envs: options.envs,
        concurrency: options.concurrency,
        allow: options.allow,
        deny: options.deny,
        roots: options.roots,
        subscriberId: options.subscriberId,
        taskConcurrency: taskOptions.concurrency,
        taskPrefetch: taskOptions.prefetch,
        taskHandlers: taskOptions.handlers,
        pluginsDir: flags.pluginsDir ?? process.env.CLA_WORKER_PLUGINS_DIR,
        plugins: flags.plugin ?? [],
        overrides: options.overrides,
        tls: tlsOptions(options),
        record: options.record,
        log,
        leftovers: leftovers.tracker,
        warn,
      });
      for (const p of worker.plugins) info(`plugin ${p.name} (${p.kind}, ${p.source}): actions ${p.actions.join(', ') || '-'}; tasks ${p.tasks.join(', ') || '-'}`);
      info(`starting worker ${id} for ${options.urls.join(', ')}${options.config ? ` (config ${options.config})` : ''}`);
      const onSignal = (signal: string) => () => worker.stop(`${signal} received`);
      process.once('SIGINT', onSignal('SIGINT'));
      process.once('SIGTERM', onSignal('SIGTERM'));
      const exit = await worker.run();
      reportWorkerExit(id, exit);
    }),
  );

  registerDaemonCommands(program, { loadOptions });
}

/** What the start-up sweep of the state folder found, for the person starting the worker. */
function reportLeftovers(report: SweepReport, dir: string): void {
  if (report.ownedBy !== undefined) {
    warn(`another cla-worker process (pid ${report.ownedBy}) uses the state folder ${dir}: this one will not clean up after a crash; give it its own --state-dir`);
    return;
  }
  if (report.killedGroups.length > 0) warn(`killed ${report.killedGroups.length} process group(s) left running by a previous process of this worker: ${report.killedGroups.map((g) => `job ${g.job} (pgid ${g.pgid}, \`${g.cmd}\`)`).join(', ')}`);
  if (report.removedTempFiles.length > 0) warn(`removed ${report.removedTempFiles.length} temp file(s) of transfers cut short by a previous process of this worker: ${report.removedTempFiles.join(', ')}`);
}
