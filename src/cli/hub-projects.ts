/** `cla-hub project ...` and `cla-hub env ...`: projects, passkeys and environments in the data file. */
import type { Command } from 'commander';
import { openRegistry, resolveDataFile } from '../hub/hub-files.ts';
import { adminDataOption as dataOption } from './hub-connect.ts';
import { guard, info, line, success, warn } from './say.ts';

/** Adds `project` (create, passkey, list) to the hub CLI. */
export function registerProjectCommands(program: Command): void {
  const project = program.command('project').description('manage projects and their passkeys');
  project
    .command('create <name>')
    .description('create a project and print its passkey')
    .addOption(dataOption())
    .action((name: string, opts) =>
      withRegistry(opts.data, (registry) => {
        const created = registry.createProject(name);
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
      withRegistry(opts.data, (registry) => {
        if (opts.rotate) info(`passkey: ${registry.rotatePasskey(name)}`);
        else if (opts.invalidate) {
          registry.invalidatePasskey(name);
          success(`passkey of ${name} invalidated`);
        } else {
          const passkey = registry.passkey(name);
          if (passkey === null) warn(`project ${name} has no passkey; make one with \`cla-hub project passkey ${name} --rotate\``);
          else info(`passkey: ${passkey}`);
        }
      }),
    );
  project
    .command('list')
    .description('list projects')
    .addOption(dataOption())
    .action((opts) => withRegistry(opts.data, (registry) => registry.listProjects().forEach((p) => line(`${p.name}${p.hasPasskey ? '' : '  (no passkey)'}`))));
}

/** Adds `env` (add, list) to the hub CLI. */
export function registerEnvCommands(program: Command): void {
  const env = program.command('env').description('manage environments (names are case-sensitive)');
  env
    .command('add <name>')
    .description('create an environment workers may declare with --env')
    .addOption(dataOption())
    .action((name: string, opts) =>
      withRegistry(opts.data, (registry) => {
        if (registry.addEnv(name)) success(`environment ${name} created`);
        else info(`environment ${name} already exists`);
      }),
    );
  env
    .command('list')
    .description('list environments')
    .addOption(dataOption())
    .action((opts) => withRegistry(opts.data, (registry) => registry.listEnvs().forEach((name) => line(name))));
}

function withRegistry(data: string | undefined, action: (registry: ReturnType<typeof openRegistry>['registry']) => void): Promise<void> {
  return guard(() => {
    const { registry, close } = openRegistry(resolveDataFile(data));
    try {
      action(registry);
    } finally {
      close();
    }
  });
}

