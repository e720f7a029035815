/** `cla-hub project ...` and `cla-hub env ...`: projects, passkeys and environments, through the running hub's methods. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { adminDataOption as dataOption, withHub } from './hub-connect.ts';
import { info, line, success, warn } from './say.ts';

/** Adds `project` (create, passkey, list) to the hub CLI. */
export function registerProjectCommands(program: Command): void {
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
        const projects = await client.call<Array<{ name: string; hasPasskey: boolean }>>('projects.list');
        if (opts.json) line(JSON.stringify(projects, null, 2));
        else projects.forEach((p) => line(`${p.name}${p.hasPasskey ? '' : '  (no passkey)'}`));
      }),
    );
}

/** Adds `env` (add, list) to the hub CLI. */
export function registerEnvCommands(program: Command): void {
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
}
