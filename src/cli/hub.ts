#!/usr/bin/env node
/**
 * `cla-hub`: start the hub, manage projects, passkeys and environments, run commands on workers, and
 * print recordings. argv -> options -> calls; no logic of its own. Every command but `start` reaches
 * the hub through its admin API (hub-connect.ts); only `start` opens the data file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { adminTokenFile, DEFAULT_PORT, ensureAdminTokenFile, openRegistry, removeHubRecord, resolveDataFile, writeHubRecord } from '../hub/hub-files.ts';
import { tightenToOwnerOnly } from '../file-mode.ts';
import { DEFAULT_ADMIN_PORT } from '../hub/admin-http.ts';
import { Hub } from '../hub/hub.ts';
import { ActionsExtension } from '../hub/actions/actions-extension.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { openTaskHub } from '../hub/tasks/index.ts';
import { recordingExtension } from '../hub/methods/recording-methods.ts';
import { createLogger } from '../logger.ts';
import { FrameRecorder, readRecording } from '../transport/recorder.ts';
import { addConnectionOptions, adminDataOption, adminUrlOption, connectAdminOrReport, trackCommand, withHub } from './hub-connect.ts';
import { registerLoginCommand } from './hub-login.ts';
import { registerEvalCommands } from './hub-eval.ts';
import { registerTaskCommands } from './hub-tasks.ts';
import { registerTransferCommands } from './hub-transfer.ts';
import { registerResourceCommands } from './hub-resources.ts';
import { registerSubscriberCommands } from './hub-subscribers.ts';
import { registerRulebookCommands } from './hub-rulebook.ts';
import { registerWorkflowCommands } from './hub-workflows.ts';
import { registerWorkersCommands } from './hub-workers.ts';
import { formatRecording } from '../transport/recording-format.ts';
import { exitForUsage, guard, info, line, success, warn } from './say.ts';
import { HUB_SECRET_FLAGS, hideSecretArguments, resolveSecretFiles } from './secret-options.ts';

hideSecretArguments(Object.values(HUB_SECRET_FLAGS));
import { splitList, parsePositiveSeconds } from './parse.ts';
import { cancelOnCtrlC } from './ctrl-c.ts';

const program = addConnectionOptions(
  new Command('cla-hub')
    .description('The cla-worker hub: workers dial in over a websocket and run what it asks.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride(exitForUsage),
);
trackCommand(program);

const dataOption = adminDataOption;

program
  .command('start')
  .description('start the hub in the foreground')
  .addOption(dataOption())
  .option('--host <host>', 'interface to listen on (0.0.0.0 for remote workers)', process.env.CLA_HUB_HOST ?? '127.0.0.1')
  .option('--port <port>', 'port to listen on (0 picks a free one)', process.env.CLA_HUB_PORT ?? String(DEFAULT_PORT))
  .option('--record <file>', 'record every frame to this file')
  .option('--tls-cert <file>', 'TLS certificate (serve wss://)')
  .option('--tls-key <file>', 'TLS private key')
  .option('--client-ca <file>', 'require client certificates signed by this CA')
  .option('--psk <key>', 'hub-wide pre-shared key workers may use instead of registering (env CLA_HUB_PSK; hidden from ps once started)')
  .option('--psk-file <file>', 'read the pre-shared key from this file (env CLA_HUB_PSK_FILE)')
  .option('--admin-host <host>', 'interface of the admin API, /metrics and dashboard (env CLA_HUB_ADMIN_HOST)', process.env.CLA_HUB_ADMIN_HOST ?? '127.0.0.1')
  .option('--admin-port <port>', 'port of the admin API (0 picks a free one; env CLA_HUB_ADMIN_PORT)', process.env.CLA_HUB_ADMIN_PORT ?? String(DEFAULT_ADMIN_PORT))
  .option('--no-admin', 'do not start the admin API')
  .option('--legacy-pubsub', 'also serve the Clarive legacy HTTP + SSE pubsub on the worker port, for existing Clarive workers (use only behind TLS: they send their token in the URL)')
  .option('-v, --verbose', 'verbose logging')
  .option('--quiet', 'only log errors')
  .option('--json-logs', 'log JSON lines even on a terminal')
  .option('--workflows <dir>', 'more workflow definitions (YAML/JSON files; one named like a built-in replaces it)')
  .option('--no-cron', 'do not run the cron triggers of workflows')
  .option('--subscriber-grace <seconds>', 'how long a disconnected action subscriber may take to come back before a workflow step stops waiting for it', '10')
  .action((opts, cmd: Command) =>
    guard(async () => {
      const dataFile = resolveDataFile(opts.data);
      const adminPort = Number(opts.adminPort);
      if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) throw new InvalidArgumentError(`Expected \`--admin-port\` to be an integer 0-65535, got \`${opts.adminPort}\``);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`Expected \`--port\` to be an integer 0-65535, got \`${opts.port}\``);
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new InvalidArgumentError('Pass both --tls-cert and --tls-key, or neither');
      // SQLite gives its -wal and -shm files the data file's mode, so the three are checked together.
      for (const file of [dataFile, `${dataFile}-wal`, `${dataFile}-shm`, adminTokenFile(dataFile)]) tightenToOwnerOnly(file, 'hub file', warn);
      const secrets = resolveSecretFiles(opts, process.env, HUB_SECRET_FLAGS, () => 'CLA_HUB_PSK', warn) as { flags: { psk?: string }; env: NodeJS.ProcessEnv };
      const { registry, close } = openRegistry(dataFile);
      const log = createLogger({ name: 'hub', verbose: opts.verbose, quiet: opts.quiet, json: opts.jsonLogs });
      const recorder = opts.record ? new FrameRecorder(opts.record, undefined, 'hub', warn) : undefined;
      const project = registry.ensureDefaultProject();
      ensureAdminTokenFile(registry, dataFile);
      registry.resetConnections();
      const lost = registry.closeJobsOfPreviousLife(Date.now());
      if (lost.length > 0) warn(`closed ${lost.length} job(s) left running by the previous hub process as lost: ${lost.slice(0, 10).map((j) => j.id).join(', ')}${lost.length > 10 ? ', ...' : ''}`);
      const tasks = openTaskHub(dataFile);
      const actionsDb = openSqliteStore(dataFile);
      const actions = new ActionsExtension({
        db: actionsDb.db,
        workflowsDir: opts.workflows,
        cron: opts.cron,
        graceMs: Math.round(parsePositiveSeconds('--subscriber-grace', opts.subscriberGrace) * 1000),
        tasks,
        log: log.child({ component: 'workflows' }),
      });
      const hub = new Hub(
        {
          host: opts.host,
          port,
          psk: secrets.flags.psk ?? secrets.env.CLA_HUB_PSK,
          legacyPubsub: opts.legacyPubsub === true ? { spoolDir: path.join(path.dirname(dataFile), 'legacy-spool') } : false,
          tls: opts.tlsCert
            ? { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey), clientCa: opts.clientCa ? fs.readFileSync(opts.clientCa) : undefined }
            : undefined,
        },
        { registry, log, tap: recorder, extensions: [tasks, actions, recordingExtension(recorder?.path)] },
      );
      const url = await hub.start();
      const publicUrl = opts.host === '0.0.0.0' || opts.host === '::' ? url.replace(/\/\/[^:/]+|\/\/\[[^\]]+\]/, `//${os.hostname()}`) : url;
      info(`cla-hub listening on ${url}`);
      const adminUrl = opts.admin === false ? undefined : await startAdminApi(hub, opts.adminHost, adminPort, cmd.getOptionValueSource('adminPort') === 'default' && process.env.CLA_HUB_ADMIN_PORT === undefined);
      const local = (u: string) => u.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
      // How `cla-hub` commands on this host find this hub (src/client/hub-address.ts): never a default port.
      writeHubRecord(dataFile, { hubId: hub.id, url: local(url), adminUrl: adminUrl ? local(adminUrl) : null, pid: process.pid, startedAt: Date.now() });
      if (adminUrl) info(`admin API on ${adminUrl}`);
      if (adminUrl && !/^http:\/\/(127\.|localhost|\[::1\])/.test(adminUrl)) warn('the admin API is reachable from other machines: it needs the admin token, but /metrics does not');
      info(`data=${dataFile}`);
      if (recorder) info(`recording frames to ${recorder.path}`);
      if (opts.legacyPubsub === true) {
        info(`legacy pubsub for Clarive workers on ${url.replace(/^ws/, 'http')} (cla-worker run --url ${publicUrl.replace(/^ws/, 'http')})`);
        if (!opts.tlsCert) warn('--legacy-pubsub without TLS: legacy workers send their token in the URL; serve it only behind TLS (--tls-cert/--tls-key or a TLS proxy)');
      }
      const passkey = registry.passkey(project.project);
      if (passkey) {
        info(`project ${project.project}${project.created ? ' (created)' : ''} passkey: ${passkey}`);
        info('Register a worker with the following command:');
        line(`cla-worker register${publicUrl === `ws://127.0.0.1:${DEFAULT_PORT}` ? '' : ` --url ${publicUrl}`} --passkey ${passkey}`);
      }
      const stop = async (signal: string) => {
        info(`${signal}: stopping the hub`);
        removeHubRecord(dataFile, hub.id);
        await hub.stop();
        recorder?.close();
        actionsDb.close();
        close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    }),
  );

const project = program.command('project').description('manage projects and their passkeys');
project
  .command('create <name>')
  .description('create a project and print its passkey')
  .addOption(dataOption())
  .action((name: string, opts) =>
    withHub(opts, async (client) => {
      const created = await client.call<{ project: string; passkey: string }>('projects.create', { name });
      success(`project ${created.project} created`);
      info(`passkey: ${created.passkey}`);
    }),
  );
project
  .command('passkey <name>')
  .description("show a project's passkey (--rotate makes a new one, --invalidate removes it)")
  .option('--rotate', 'replace the passkey with a new one')
  .option('--invalidate', 'remove the passkey: no new registrations until rotated')
  .addOption(dataOption())
  .action((name: string, opts) =>
    withHub(opts, async (client) => {
      if (opts.rotate && opts.invalidate) throw new InvalidArgumentError('Pass --rotate or --invalidate, not both');
      if (opts.rotate) info(`passkey: ${(await client.call<{ passkey: string }>('projects.rotatePasskey', { name })).passkey}`);
      else if (opts.invalidate) {
        await client.call('projects.invalidatePasskey', { name });
        success(`passkey of ${name} invalidated`);
      } else {
        const { passkey } = await client.call<{ passkey: string | null }>('projects.passkey', { name });
        if (passkey === null) warn(`project ${name} has no passkey; make one with \`cla-hub project passkey ${name} --rotate\``);
        else info(`passkey: ${passkey}`);
      }
    }),
  );
project
  .command('list')
  .description('list projects')
  .option('--json', 'print JSON')
  .addOption(dataOption())
  .action((opts) =>
    withHub(opts, async (client) => {
      const projects = await client.call<Array<{ name: string; hasPasskey: boolean; workers: number; connected: number }>>('projects.list');
      if (opts.json) line(JSON.stringify(projects, null, 2));
      else projects.forEach((p) => line(`${p.name}${p.hasPasskey ? '' : '  (no passkey)'}`));
    }),
  );

const env = program.command('env').description('manage environments (names are case-sensitive)');
env
  .command('add <name>')
  .description('create an environment workers may declare with --env')
  .addOption(dataOption())
  .action((name: string, opts) =>
    withHub(opts, async (client) => {
      if ((await client.call<{ created: boolean }>('envs.add', { name })).created) success(`environment ${name} created`);
      else info(`environment ${name} already exists`);
    }),
  );
env
  .command('list')
  .description('list environments')
  .addOption(dataOption())
  .action((opts) => withHub(opts, async (client) => (await client.call<string[]>('envs.list')).forEach((name) => line(name))));

program
  .command('exec')
  .description('run a command on a worker and stream its output: cla-hub exec [options] -- CMD [ARGS...]')
  .argument('<command...>', 'one argument runs through the shell; several run directly (argv)')
  .option('--worker <id>', 'run on this worker')
  .option('--tags <tags>', 'run on the first available worker having all these tags (comma separated)')
  .option('--env <env>', 'run on a worker serving this environment')
  .option('--project <name>', 'run on a worker of this project')
  .option('--cwd <dir>', 'working directory on the worker')
  .option('--timeout <seconds>', 'stop the command after this many seconds')
  .option('--wait <seconds>', 'how long to wait for a busy worker', '60')
  .addOption(adminUrlOption())
  .addOption(dataOption())
  .action((command: string[], opts) => guard(() => execCommand(command, opts)));

program
  .command('replay [file]')
  .description("print a recording made with --record as a readable conversation (--from-hub: the running hub's own recording)")
  .option('--from-hub', "read the hub's recording through its admin API (works from another host)")
  .option('--limit <n>', 'with --from-hub: the last this many lines', '1000')
  .addOption(dataOption())
  .action((file: string | undefined, opts) => {
    if (opts.fromHub) {
      if (file !== undefined) return guard(() => { throw new InvalidArgumentError('Pass a FILE or --from-hub, not both'); });
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) return guard(() => { throw new InvalidArgumentError(`Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``); });
      return withHub(opts, async (client) => {
        for (const text of (await client.call<{ lines: string[] }>('recording.read', { limit })).lines) line(text);
      });
    }
    return guard(() => {
      if (file === undefined) throw new InvalidArgumentError('Pass the recording FILE, or --from-hub for the running hub\'s recording');
      for (const text of formatRecording(readRecording(file))) line(text);
    });
  });

async function execCommand(command: string[], opts: Record<string, string | undefined>): Promise<void> {
  // Checked before connecting: a bad value must exit 2, not leave an open connection holding the process.
  const timeout = opts.timeout === undefined ? undefined : parsePositiveSeconds('--timeout', opts.timeout);
  const waitMs = Math.round(parsePositiveSeconds('--wait', opts.wait ?? '60', true) * 1000);
  const client = await connectAdminOrReport(opts);
  if (!client) return;
  const ctrlC = cancelOnCtrlC(() => warn('cancelling the remote command (Ctrl-C again to leave it running and quit)'));
  const target = {
    ...(opts.worker === undefined ? {} : { worker: opts.worker }),
    ...(opts.tags === undefined ? {} : { tags: splitList(opts.tags) }),
    ...(opts.env === undefined ? {} : { env: opts.env }),
    ...(opts.project === undefined ? {} : { project: opts.project }),
  };
  const exec = {
    kind: 'exec' as const,
    cmd: command.length === 1 ? command[0]! : command,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    ...(timeout === undefined ? {} : { timeoutMs: Math.round(timeout * 1000) }),
  };
  try {
    await new Promise<void>((resolve, reject) => {
      client.run(target, exec, { waitMs, signal: ctrlC.signal }).subscribe({
        next: (event) => {
          if (event.type === 'output') (event.stream === 'stdout' ? process.stdout : process.stderr).write(event.data);
          else if (event.type === 'exit') {
            if (event.timedOut) warn(`timed out after ${opts.timeout} s`);
            const signo = event.signal ? (os.constants.signals as Record<string, number>)[event.signal] : undefined;
            process.exitCode = event.code ?? (signo ? 128 + signo : 1);
          }
        },
        error: reject,
        complete: resolve,
      });
    });
  } catch (error) {
    // 125 like `docker run`: the hub or worker failed, not the command.
    if (error instanceof ClaError) {
      process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
      process.exitCode = error.code === ErrorCode.SpawnFailed ? 127 : 125;
      return;
    }
    throw error;
  } finally {
    ctrlC.dispose();
    client.close();
  }
}

/**
 * Starts the admin listener. When the default port is taken (another hub on this machine) the hub runs
 * on without it and says how to pick a port; a port asked for explicitly must be free.
 */
async function startAdminApi(hub: Hub, host: string, port: number, defaultPort: boolean): Promise<string | undefined> {
  try {
    return await hub.startAdmin({ host, port });
  } catch (error) {
    if (defaultPort && error instanceof ClaError && error.data?.errno === 'EADDRINUSE') {
      warn(`admin API not started: port ${port} is in use; pass --admin-port PORT (0 picks a free one)`);
      return undefined;
    }
    await hub.stop();
    throw error;
  }
}

registerLoginCommand(program);
registerTransferCommands(program);
registerRulebookCommands(program);
registerWorkflowCommands(program);
registerResourceCommands(program);
registerSubscriberCommands(program);
registerTaskCommands(program);
registerWorkersCommands(program);
registerEvalCommands(program);

await program.parseAsync(process.argv);
