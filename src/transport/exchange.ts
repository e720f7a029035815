/**
 * One request, one answer: waits for the hub's `challenge`, sends the first frame built for its nonce, and
 * waits for the first frame of an expected type, turning an `error` frame or a close into a
 * {@link ClaError}. Used by registration and the admin handshake (see src/protocol/auth-proof.ts).
 */
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import type { Frame, FrameOf, FrameType } from '../protocol/frames.ts';
import type { Transport } from './transport.ts';

/** Waits for `challenge`, sends `request(nonce)` and resolves with the first frame whose type is `expect`. */
export function exchange<T extends FrameType>(transport: Transport, request: (nonce: string) => Frame, expect: T, timeoutMs = 15_000): Promise<FrameOf<T>> {
  return new Promise((resolve, reject) => {
    let sent = false;
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      transport.close(1000, 'timeout');
      const what = sent ? `\`${expect}\` answer` : '`challenge` (a hub older than protocol version 2 sends none: upgrade it)';
      reject(new ClaError(ErrorCode.Timeout, `No ${what} from the hub within ${timeoutMs} ms`, { retryable: true }));
    }, timeoutMs);
    const fail = (error: unknown) => {
      clearTimeout(timer);
      subscription.unsubscribe();
      reject(error);
    };
    const subscription = transport.frames$.subscribe({
      next: (f) => {
        if (f.t === 'challenge' && !sent) {
          sent = true;
          let first: Frame;
          try {
            first = request(f.nonce);
          } catch (error) {
            fail(error);
            return;
          }
          transport.send(first).catch(fail);
        } else if (f.t === expect && sent) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(f as FrameOf<T>);
        } else if (f.t === 'error') {
          fail(fromWireError(f.error));
        }
      },
      complete: () => {
        clearTimeout(timer);
        reject(new ClaError(ErrorCode.ConnectionFailed, 'The hub closed the connection before answering', { retryable: true }));
      },
    });
  });
}
