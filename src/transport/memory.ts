/**
 * An in-memory connected pair of transports for unit tests: frames still go through the codec, so the
 * same bytes cross as on a websocket, but delivery is on the microtask queue instead of a socket.
 */
import { FrameChannel, nextConnectionId } from './frame-channel.ts';
import type { FrameTap, Transport } from './transport.ts';

/** Creates two connected transports `[a, b]`: what `a` sends, `b` receives and vice versa. */
export function createMemoryPair(options: { tapA?: FrameTap; tapB?: FrameTap } = {}): [Transport, Transport] {
  const ends: FrameChannel[] = [];
  let closed = false;
  const closeBoth = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    queueMicrotask(() => ends.forEach((end) => end.closedBy(code, reason)));
  };
  const socketFor = (index: number) => ({
    send(bytes: Uint8Array, done: (error?: Error) => void) {
      const copy = Uint8Array.from(bytes);
      queueMicrotask(() => {
        if (!closed) ends[1 - index]!.receive(copy);
        done();
      });
    },
    close: (code: number, reason: string) => closeBoth(code, reason),
    terminate: () => closeBoth(1006, ''),
    bufferedAmount: () => 0,
  });
  ends.push(new FrameChannel(socketFor(0), { id: nextConnectionId('m'), remote: 'memory', tap: options.tapA }));
  ends.push(new FrameChannel(socketFor(1), { id: nextConnectionId('m'), remote: 'memory', tap: options.tapB }));
  return [ends[0]!, ends[1]!];
}
