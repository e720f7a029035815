/**
 * The eval child process, forked by eval-process.ts with an IPC channel (advanced serialization, so
 * binary stays binary). It receives one message `{ nonce, code, maxResultBytes }`, runs `code` as the body
 * of an async function, and answers with one message carrying the same nonce:
 *
 * - `{ nonce, type: 'result', value }`: what the code returned (awaited), converted by eval-plain.mjs;
 * - `{ nonce, type: 'error', phase, error: { name, message, stack } }`: `phase` is `compile` (a syntax
 *   error), `run` (the code threw or its promise rejected), `uncaught` (an exception from a callback the
 *   code scheduled, or an unhandled rejection) or `result` (the value could not be converted: a cycle,
 *   too deep, too large).
 *
 * Then it exits, even when the code left timers or sockets open. Timeouts and cancels are the parent's
 * job: it kills this process (a `vm` timeout cannot stop asynchronous code, a separate process can).
 *
 * In scope of the code: `fs`, `path`, `os`, `child_process`, `crypto`, `util` (the node: modules),
 * `require` (resolving from the working directory), and `import()` (also resolving from the working
 * directory). Everything global (`process`, `console`, `Buffer`, `fetch`, ...) is there too. This is not a
 * sandbox: the code can do anything the worker's OS user can, like the Clarive worker's eval.
 *
 * Plain JavaScript so the process starts in tens of milliseconds instead of loading tsx.
 */
import child_process from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import util from 'node:util';
import vm from 'node:vm';
import { PlainValueError, toPlainValue } from './eval-plain.mjs';

const RUNNER_URL = import.meta.url;
const RUNNER_PATH = fileURLToPath(import.meta.url);
const MAX_MESSAGE_CHARS = 8 * 1024;
const MAX_STACK_CHARS = 16 * 1024;

/** The names in scope of the code, in the order of {@link scopeValues}. */
const SCOPE = ['fs', 'path', 'os', 'child_process', 'crypto', 'util', 'require'];

// `import()` in a vm script needs USE_MAIN_CONTEXT_DEFAULT_LOADER (Node >= 20.12), which warns once that
// it is experimental. The warning would land in the code's captured logs: drop that one warning only.
const emitWarning = process.emitWarning;
process.emitWarning = function filteredEmitWarning(warning, ...rest) {
  const text = typeof warning === 'string' ? warning : warning?.message;
  if (typeof text === 'string' && text.includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
  return Reflect.apply(emitWarning, process, [warning, ...rest]);
};

let nonce;
let replied = false;

process.once('message', (message) => {
  nonce = message.nonce;
  void run(String(message.code), Number(message.maxResultBytes));
});
// The worker went away before an answer: nobody will read it.
process.on('disconnect', () => {
  if (!replied) process.exit(1);
});
// Errors thrown by callbacks the code scheduled (timers, events) and unhandled rejections: the eval fails
// with that error instead of the process dying with only a stack on stderr.
process.on('uncaughtException', (error) => reply({ type: 'error', phase: 'uncaught', error: describeError(error) }));

async function run(code, maxResultBytes) {
  const filename = path.join(process.cwd(), '[eval]');
  let fn;
  try {
    // The wrapper's first line is line 0 (lineOffset -1), so stack traces count lines of `code` from 1.
    const script = new vm.Script(`(async function (${SCOPE.join(', ')}) {\n${code}\n})`, {
      filename,
      lineOffset: -1,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    fn = script.runInThisContext();
  } catch (error) {
    return reply({ type: 'error', phase: 'compile', error: describeError(error) });
  }
  let returned;
  try {
    returned = await fn(fs, path, os, child_process, crypto, util, createRequire(filename));
  } catch (error) {
    return reply({ type: 'error', phase: 'run', error: describeError(error) });
  }
  let value;
  try {
    value = toPlainValue(returned, { maxBytes: maxResultBytes > 0 ? maxResultBytes : undefined });
  } catch (error) {
    const described = describeError(error);
    // The converter's own frames say nothing about the code; a throwing getter or toJSON() keeps its stack.
    if (error instanceof PlainValueError) described.stack = null;
    return reply({ type: 'error', phase: 'result', error: described });
  }
  reply({ type: 'result', value });
}

function reply(body) {
  if (replied) return;
  replied = true;
  const exit = () => {
    // Let what the code printed reach the parent's pipes first (pipes are asynchronous on some platforms).
    let pending = 2;
    const done = () => {
      pending -= 1;
      if (pending === 0) process.exit(0);
    };
    process.stdout.write('', done);
    process.stderr.write('', done);
  };
  try {
    process.send({ nonce, ...body }, (error) => (error ? process.exit(1) : exit()));
  } catch (error) {
    process.exit(1);
  }
}

/** `{ name, message, stack }` of anything thrown, with the runner's own frames cut off the stack. */
function describeError(error) {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
    return {
      name: clip(String(error.name ?? 'Error'), 200),
      message: clip(String(error.message), MAX_MESSAGE_CHARS),
      stack: typeof error.stack === 'string' ? clip(trimStack(error.stack), MAX_STACK_CHARS) : null,
    };
  }
  let shown;
  try {
    shown = util.inspect(error, { depth: 2, breakLength: Number.POSITIVE_INFINITY });
  } catch {
    shown = String(error);
  }
  return { name: 'Error', message: clip(`Threw a non-Error value: ${shown}`, MAX_MESSAGE_CHARS), stack: null };
}

/** Drops the frames from the first one in this file on: they are the runner, not the code. */
function trimStack(stack) {
  const lines = stack.split('\n');
  const cut = lines.findIndex((line) => /^\s+at /.test(line) && (line.includes(RUNNER_URL) || line.includes(RUNNER_PATH)));
  if (cut < 0) return stack;
  let end = cut;
  // `new Script` (a syntax error) sits between the code and the runner: not useful either.
  while (end > 0 && /^\s+at .*\(node:(vm|internal\/)/.test(lines[end - 1])) end -= 1;
  return lines.slice(0, end).join('\n');
}

function clip(text, max) {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
