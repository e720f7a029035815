/** `cla-hub start`: the hub in the foreground, assembled by createHub (src/hub/create-hub.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { createHub } from '../hub/create-hub.ts';
import { connectEngine, parseEngineReplicas, parseEngineUrls } from '../engine/nats-connect.ts';
import { DEFAULT_ADMIN_PORT } from '../hub/admin-http.ts';
import { DEFAULT_PORT, removeHubRecord, resolveDataFile, writeHubRecord } from '../hub/hub-files.ts';
import type { Hub } from '../hub/hub.ts';
import { createLogger } from '../logger.ts';
import { adminDataOption as dataOption } from './hub-connect.ts';
import { parsePositiveSeconds } from './parse.ts';
import { guard, info, line, warn } from './say.ts';
import { HUB_SECRET_FLAGS, resolveSecretFiles } from './secret-options.ts';

/** Adds `start` to the hub CLI. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start the hub in the foreground')
    .addOption(dataOption())
    .option('--host <host>', 'interface to listen on (0.0.0.0 for remote workers)', process.env.CLA_HUB_HOST ?? '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', process.env.CLA_HUB_PORT ?? String(DEFAULT_PORT))
    .option('--store <kind>', 'where projects, workers, jobs and tasks live: sqlite (the --data file) or memory (lost when the hub stops)', 'sqlite')
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
    .option('--engine <urls>', 'share workers with other hubs through NATS JetStream: nats://HOST:PORT, several comma-separated for a cluster (env CLA_HUB_ENGINE)')
    .option('--engine-replicas <n>', 'replicas of the JetStream buckets the hub creates on the engine: 3 on a 3-node cluster, so they outlive a server (env CLA_HUB_ENGINE_REPLICAS)', process.env.CLA_HUB_ENGINE_REPLICAS ?? '1')
    .option('--subscriber-grace <seconds>', 'how long a disconnected action subscriber may take to come back before a workflow step stops waiting for it', '10')
    .option('--task-lease-ttl <seconds>', 'how long a task lease lasts without a renewal from its worker (workers renew at a third of it); a worker silent that long loses its tasks to others', '30')
    .action((opts, cmd: Command) =>
      guard(async () => {
        const dataFile = resolveDataFile(opts.data);
        const adminPort = Number(opts.adminPort);
        if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) throw new InvalidArgumentError(`Expected \`--admin-port\` to be an integer 0-65535, got \`${opts.adminPort}\``);
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`Expected \`--port\` to be an integer 0-65535, got \`${opts.port}\``);
        if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new InvalidArgumentError('Pass both --tls-cert and --tls-key, or neither');
        const secrets = resolveSecretFiles(opts, process.env, HUB_SECRET_FLAGS, () => 'CLA_HUB_PSK', warn) as { flags: { psk?: string }; env: NodeJS.ProcessEnv };
        const log = createLogger({ name: 'hub', verbose: opts.verbose, quiet: opts.quiet, json: opts.jsonLogs });
        const engineUrls = (opts.engine as string | undefined) ?? process.env.CLA_HUB_ENGINE;
        const servers = engineUrls === undefined ? undefined : parseEngineUrls(engineUrls);
        const replicas = parseEngineReplicas(opts.engineReplicas);
        const engine =
          servers === undefined
            ? undefined
            : await connectEngine(servers, { replicas }).catch((cause: unknown) => {
                throw new ClaError(ErrorCode.ConnectionFailed, `Cannot use the engine at ${servers.join(', ')} (${(cause as Error).message}): start nats-server with JetStream (\`nats-server -js\`), or fix --engine / CLA_HUB_ENGINE`, { cause, retryable: true });
              });
        const created = await createHub({
          store: opts.store,
          engine,
          data: dataFile,
          host: opts.host,
          port,
          psk: secrets.flags.psk ?? secrets.env.CLA_HUB_PSK,
          legacyPubsub: opts.legacyPubsub === true ? { spoolDir: path.join(path.dirname(dataFile), 'legacy-spool') } : false,
          tls: opts.tlsCert
            ? { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey), clientCa: opts.clientCa ? fs.readFileSync(opts.clientCa) : undefined }
            : undefined,
          workflowsDir: opts.workflows,
          cron: opts.cron,
          subscriberGraceMs: Math.round(parsePositiveSeconds('--subscriber-grace', opts.subscriberGrace) * 1000),
          record: opts.record,
          tasks: { leaseTtlMs: Math.round(parsePositiveSeconds('--task-lease-ttl', opts.taskLeaseTtl) * 1000) },
          log,
          warn,
        });
        const { hub, registry, defaultProject: project, lostJobs: lost } = created;
        if (lost.length > 0) warn(`closed ${lost.length} job(s) left running by the previous hub process as lost: ${lost.slice(0, 10).map((j) => j.id).join(', ')}${lost.length > 10 ? ', ...' : ''}`);
        const { url } = await created.start();
        const publicUrl = opts.host === '0.0.0.0' || opts.host === '::' ? url.replace(/\/\/[^:/]+|\/\/\[[^\]]+\]/, `//${os.hostname()}`) : url;
        info(`cla-hub listening on ${url}`);
        const adminUrl = opts.admin === false ? undefined : await startAdminApi(hub, opts.adminHost, adminPort, cmd.getOptionValueSource('adminPort') === 'default' && process.env.CLA_HUB_ADMIN_PORT === undefined);
        const local = (u: string) => u.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
        // How `cla-hub` commands on this host find this hub (src/client/hub-address.ts): never a default port.
        writeHubRecord(dataFile, { hubId: hub.id, url: local(url), adminUrl: adminUrl ? local(adminUrl) : null, pid: process.pid, startedAt: Date.now() });
        if (adminUrl) info(`admin API on ${adminUrl}`);
        if (adminUrl && !/^http:\/\/(127\.|localhost|\[::1\])/.test(adminUrl)) warn('the admin API is reachable from other machines: it needs the admin token, but /metrics does not');
        info(created.store === 'memory' ? 'store=memory (nothing is kept when the hub stops)' : `data=${dataFile}`);
        if (opts.record) info(`recording frames to ${opts.record}`);
        if (opts.legacyPubsub === true) {
          info(`legacy pubsub for Clarive workers on ${url.replace(/^ws/, 'http')} (cla-worker run --url ${publicUrl.replace(/^ws/, 'http')})`);
          if (!opts.tlsCert) warn('--legacy-pubsub without TLS: legacy workers send their token in the URL; serve it only behind TLS (--tls-cert/--tls-key or a TLS proxy)');
        }
        const passkey = await registry.passkey(project.project);
        if (passkey) {
          info(`project ${project.project}${project.created ? ' (created)' : ''} passkey: ${passkey}`);
          info('Register a worker with the following command:');
          line(`cla-worker register${publicUrl === `ws://127.0.0.1:${DEFAULT_PORT}` ? '' : ` --url ${publicUrl}`} --passkey ${passkey}`);
        }
        const stop = async (signal: string) => {
          info(`${signal}: stopping the hub`);
          removeHubRecord(dataFile, hub.id);
          await created.stop();
          await engine?.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop('SIGINT'));
        process.once('SIGTERM', () => void stop('SIGTERM'));
      }),
    );
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

