/**
 * Entry of the single-file cla-worker (Node single executable application, scripts/build-binary.mjs).
 * Every child the worker starts from its own executable re-enters here, so this dispatches on the first
 * argument: the eval runner (eval-process.ts forks `EVAL_RUNNER_ARG`), else the CLI (`start` spawns
 * `<executable> run ...`). CommonJS once bundled, so no top-level await.
 */
import { EVAL_RUNNER_ARG } from '../worker/ops/eval-process.ts';
import { hideSecretArguments, WORKER_SECRET_FLAGS } from './secret-options.ts';
import { runWorkerCli } from './worker-program.ts';

if (process.argv[2] === EVAL_RUNNER_ARG) {
  process.argv.splice(2, 1);
  void import('../worker/ops/eval-runner.mjs');
} else {
  // `--token T` must not stay readable in /proc/PID/cmdline (issue 11, case 13).
  hideSecretArguments(Object.values(WORKER_SECRET_FLAGS));
  runWorkerCli(process.argv).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
