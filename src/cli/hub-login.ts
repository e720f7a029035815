/**
 * `cla-hub login`: checks a hub address and admin token once, then writes them to the client config
 * (`~/.config/cla-hub/client.yml`, 0600; `CLA_HUB_CLIENT_CONFIG` moves it), so later commands on this
 * machine need no flags. The hub's id is saved too: a later command refuses a server that is not that
 * hub before sending the token. `cla-hub logout` removes the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { clientConfigFile, resolveHubAddress, writeClientConfig, type ClientConfig } from '../client/hub-address.ts';
import { ClaError, InvalidArgumentError } from '../errors.ts';
import { AdminClient } from '../hub/admin-client.ts';
import { isUsageError, reportHubError } from './hub-connect.ts';
import { guard, info, success } from './say.ts';

/** Adds `login` and `logout`. */
export function registerLoginCommand(program: Command): void {
  program
    .command('login')
    .description('check --hub URL and the admin token, and save them (and the TLS flags) for later commands: cla-hub --hub wss://hub:8733 --admin-token-file F login')
    .action((_opts, command: Command) =>
      guard(async () => {
        const flags = command.optsWithGlobals() as Record<string, string | boolean | undefined>;
        const hub = typeof flags.hub === 'string' ? flags.hub : process.env.CLA_HUB_URL;
        if (!hub) throw new InvalidArgumentError('Pass --hub URL (the hub\'s ws:// or wss:// address) and --admin-token-file FILE to log in');
        const address = resolveHubAddress({
          hub,
          adminTokenFile: typeof flags.adminTokenFile === 'string' ? flags.adminTokenFile : undefined,
          caCert: flags.caCert as string | undefined,
          cert: flags.cert as string | undefined,
          certKey: flags.certKey as string | undefined,
          certKeyPass: flags.certKeyPass as string | undefined,
          verifyCerts: flags.verifyCerts === false ? false : undefined,
        });
        let hubId: string;
        try {
          const client = await AdminClient.connect(address.url, address.token, address.tls);
          try {
            hubId = (await client.call<{ hubId: string }>('hub.info')).hubId;
          } finally {
            client.close();
          }
        } catch (error) {
          if (!(error instanceof ClaError) || isUsageError(error)) throw error;
          reportHubError(error);
          return;
        }
        const abs = (file: unknown) => (typeof file === 'string' ? path.resolve(file) : undefined);
        const config: ClientConfig = {
          hub: address.url,
          hubId,
          adminToken: address.token,
          ...(abs(flags.caCert) ? { caCert: abs(flags.caCert) } : {}),
          ...(abs(flags.cert) ? { cert: abs(flags.cert), certKey: abs(flags.certKey) } : {}),
          ...(flags.verifyCerts === false ? { verifyCerts: false } : {}),
        };
        const file = writeClientConfig(config);
        success(`logged in to hub ${hubId} at ${address.url}`);
        info(`saved to ${file} (0600); \`cla-hub logout\` removes it`);
      }),
    );

  program
    .command('logout')
    .description('remove the client config written by `cla-hub login`')
    .action(() =>
      guard(() => {
        const file = clientConfigFile();
        if (!fs.existsSync(file)) {
          info(`not logged in (${file} does not exist)`);
          return;
        }
        fs.rmSync(file);
        success(`removed ${file}`);
      }),
    );
}
