/**
 * The CLIs load a command's module only when that command runs (issue 12): help and version load none,
 * and the table's names and descriptions match what the modules register.
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_COMMANDS } from '../../src/cli/hub-commands.ts';
import { requestedCommand, runLazyProgram, type LazyCommand } from '../../src/cli/lazy-program.ts';
import { WORKER_COMMANDS } from '../../src/cli/worker-program.ts';
import { VERSION } from '../../src/version.ts';

const lazy = suite('lazy CLI');

lazy('the requested command is the first operand, or the one after help', () => {
  assert.is(requestedCommand(['--help']), undefined);
  assert.is(requestedCommand(['exec', '--worker', 'w', '--', 'ls']), 'exec');
  assert.is(requestedCommand(['help', 'start']), 'start');
  assert.is(requestedCommand(['-V']), undefined);
});

lazy('help and an unknown command load no module; a known one loads only its own', async () => {
  const loaded: string[] = [];
  const table: LazyCommand[] = ['a', 'b'].map((name) => ({
    name,
    description: `command ${name}`,
    load: async () => {
      loaded.push(name);
      return (program: Command) => void program.command(name).action(() => undefined);
    },
  }));
  const program = () => new Command('x').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  await runLazyProgram(program(), table, ['node', 'x', '--help']).catch(() => undefined);
  await runLazyProgram(program(), table, ['node', 'x', 'nope']).catch(() => undefined);
  assert.equal(loaded, []);
  await runLazyProgram(program(), table, ['node', 'x', 'b']);
  assert.equal(loaded, ['b']);
});

for (const [label, table] of [['cla-hub', HUB_COMMANDS], ['cla-worker', WORKER_COMMANDS]] as const) {
  lazy(`${label}: every table entry registers its command with the same description`, async () => {
    for (const entry of table) {
      const program = new Command('x');
      (await entry.load())(program);
      const command = program.commands.find((c) => c.name() === entry.name);
      assert.ok(command, `${entry.name} not registered by its module`);
      assert.ok(command!.description().startsWith(entry.description), `${entry.name}: table says "${entry.description}", the command "${command!.description()}"`);
    }
  });
}

lazy('VERSION is the package version', () => {
  assert.is(VERSION, JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
});

lazy.run();
