/**
 * Ctrl-C for commands that run something remotely: the first SIGINT cancels (the remote side stops and
 * its last output still arrives), a second one quits at once with 130.
 */

/** A Ctrl-C handler installed until `dispose()`. */
export interface CtrlC {
  /** Aborted by the first Ctrl-C. */
  readonly signal: AbortSignal;
  /** True once Ctrl-C was pressed. */
  interrupted(): boolean;
  /** Removes the handler. */
  dispose(): void;
}

/** Installs the handler; `onFirst` says what is being cancelled (a warning line, clearing a progress bar). */
export function cancelOnCtrlC(onFirst: () => void): CtrlC {
  const abort = new AbortController();
  let presses = 0;
  const onSigint = () => {
    presses += 1;
    if (presses > 1) process.exit(130);
    onFirst();
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  return {
    signal: abort.signal,
    interrupted: () => presses > 0,
    dispose: () => process.off('SIGINT', onSigint),
  };
}
