// Preloaded into the uvu process by run.mjs: on SIGUSR2 it prints what keeps the event loop alive, so a
// run that lingers after its summary names its cause before it is killed (and counted as failed).
import process from 'node:process';

process.on('SIGUSR2', () => {
  const lines = ['uvu is still running after its summary; what keeps it alive:'];
  for (const handle of process._getActiveHandles?.() ?? []) {
    const name = handle?.constructor?.name ?? typeof handle;
    if (name === 'Socket' && (handle === process.stdout || handle === process.stderr || handle === process.stdin)) continue;
    let detail = '';
    if (name === 'ChildProcess') detail = ` pid=${handle.pid} ${handle.spawnargs?.join(' ') ?? ''}`;
    else if (name === 'Socket' || name === 'TLSSocket') detail = ` ${handle.localAddress ?? ''}:${handle.localPort ?? ''} -> ${handle.remoteAddress ?? ''}:${handle.remotePort ?? ''}`;
    else if (name === 'Server') detail = ` ${JSON.stringify(handle.address?.())}`;
    else if (name === 'Timeout') detail = ` ${handle._idleTimeout} ms ${String(handle._onTimeout).slice(0, 200).replace(/\s+/g, ' ')}`;
    lines.push(`  ${name}${detail}`);
  }
  lines.push(`  resources: ${process.getActiveResourcesInfo().join(', ')}`);
  process.stderr.write(`${lines.join('\n')}\n`);
});
