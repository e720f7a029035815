/**
 * One request, one answer: sends a frame and waits for the first frame of an expected type, turning an
 * `error` frame or a close into a {@link ClaError}. Used by registration and the admin handshake.
 */
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import type { Frame, FrameOf, FrameType } from '../protocol/frames.ts';
import type { Transport } from './transport.ts';

/** Sends `request` and resolves with the first frame whose type is `expect`. */
export function exchange<T extends FrameType>(transport: Transport, request: Frame, expect: T, timeoutMs = 15_000): Promise<FrameOf<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      transport.close(1000, 'timeout');
      reject(new ClaError(ErrorCode.Timeout, `No \`${expect}\` answer from the hub within ${timeoutMs} ms`, { retryable: true }));
    }, timeoutMs);
    const subscription = transport.frames$.subscribe({
      next: (f) => {
        if (f.t === expect) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(f as FrameOf<T>);
        } else if (f.t === 'error') {
          clearTimeout(timer);
          subscription.unsubscribe();
          reject(fromWireError(f.error));
        }
      },
      complete: () => {
        clearTimeout(timer);
        reject(new ClaError(ErrorCode.ConnectionFailed, 'The hub closed the connection before answering', { retryable: true }));
      },
    });
    transport.send(request).catch((error: unknown) => {
      clearTimeout(timer);
      subscription.unsubscribe();
      reject(error);
    });
  });
}
