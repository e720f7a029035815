/**
 * The hub opens every connection with a `challenge` (a fresh nonce); the client's first frame answers it with
 * a proof of its secret (src/protocol/auth-proof.ts), so a first frame copied from a recording fails on
 * any other connection. A new connection's first frame decides what it is: `hello` (a worker), `register` / `unregister`
 * (one-shot registration calls), or `admin_hello` (the CLI and other admin clients). Anything else, or
 * nothing within the hello timeout, gets an `error` frame and the connection is closed. The first frame is
 * checked against the registry, which is asynchronous: frames that arrive meanwhile are held in order
 * (./held-frames.ts) and given to the worker or admin session before any later one.
 */
import { randomBytes } from 'node:crypto';
import { proofMessage, seal, secretHash, verifyProof } from '../protocol/auth-proof.ts';
import type { Clock } from '../clock.ts';
import { ClaError, ErrorCode, toWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type Frame, type FrameOf } from '../protocol/frames.ts';
import { CloseCode } from '../protocol/version.ts';
import type { Transport } from '../transport/transport.ts';
import { FrameHold } from './held-frames.ts';
import { BAD_PASSKEY_MESSAGE, type Registry } from './registry.ts';
import type { SessionInfo } from './worker-session.ts';

/** What {@link routeConnection} needs. */
export interface RouterDeps {
  registry: Registry;
  clock: Clock;
  log: Logger;
  helloTimeoutMs: number;
  /** Ping interval announced in `welcome`, in ms. */
  heartbeatMs: number;
  /** A worker is admitted: `transport` gives the frames held during its check, then the live ones. */
  onWorker: (info: SessionInfo, transport: Transport) => void;
  /** An admin client is admitted (`transport` as in {@link onWorker}). */
  onAdmin: (transport: Transport) => void;
  /** A worker was unregistered (entirely, or from the given project). */
  onUnregistered?: (id: string, remainingProjects: string[]) => void;
  /** The hub-wide pre-shared key; when unset, `hello` frames carrying a `psk` are refused. */
  psk?: string;
  /** Project that workers admitted by the PSK join. @default 'default' */
  pskProject?: string;
  /** Extra check of a hello; throw a ClaError to refuse. */
  checkHello?: (hello: FrameOf<'hello'>) => void;
  /** The nonce of a new connection's `challenge`. @default 16 random bytes, hex */
  nonce?: () => string;
}

/** Waits for the first frame of `transport` and hands the connection to the right handler. */
export function routeConnection(transport: Transport, deps: RouterDeps): void {
  const nonce = deps.nonce?.() ?? randomBytes(16).toString('hex');
  // A peer gone before its challenge: nothing to answer; the hello timer below closes the connection.
  void transport.send(frame('challenge', { nonce })).catch(() => undefined);
  const timer = deps.clock.setTimeout(() => {
    refuse(transport, new ClaError(ErrorCode.HelloTimeout, `No hello within ${deps.helloTimeoutMs} ms; closing`), CloseCode.HelloTimeout);
  }, deps.helloTimeoutMs);
  const hold: FrameHold = new FrameHold(
    transport,
    (f) => {
      deps.clock.clearTimeout(timer);
      handleFirst(transport, f, deps, nonce, hold).catch((error: unknown) => {
        hold.drop();
        const code = error instanceof ClaError ? closeCodeFor(error.code) : CloseCode.PolicyViolation;
        if (!(error instanceof ClaError)) deps.log.error({ err: error }, 'failed to handle a first frame');
        refuse(transport, error, code);
      });
    },
    () => deps.clock.clearTimeout(timer),
  );
}

async function handleFirst(transport: Transport, f: Frame, deps: RouterDeps, nonce: string, hold: FrameHold): Promise<void> {
  const { registry } = deps;
  switch (f.t) {
    case 'hello': {
      const worker =
        f.auth === 'psk'
          ? await pskWorker(f, deps, nonce)
          : await registry.authenticate(f.id, verifyProof(f.proof, await registry.workerTokenHash(f.id), proofMessage('hello', f.id, nonce)) ?? '');
      deps.checkHello?.(f);
      const missing = await registry.missingEnvs(f.envs);
      if (missing.length > 0) {
        throw new ClaError(
          ErrorCode.UnknownEnv,
          `Environment${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found on the hub (names are case-sensitive). Create ${missing.length > 1 ? 'them' : 'it'} with \`cla-hub env add ${missing[0]}\` or start the worker without it.`,
          { data: { missing } },
        );
      }
      const info: SessionInfo = {
        workerId: worker.id,
        tags: f.tags,
        envs: f.envs,
        caps: f.caps,
        projects: worker.projects,
        capacity: f.capacity,
        agent: f.agent,
        connectedAt: deps.clock.now(),
        disabled: worker.disabled,
      };
      // Gone while its hello was checked: no session (a later connection of the same worker is not replaced).
      if (!transport.isOpen()) return hold.drop();
      void transport.send(frame('welcome', { session: transport.id, role: 'worker', projects: worker.projects, heartbeatMs: deps.heartbeatMs, disabled: worker.disabled }));
      deps.onWorker(info, hold.release());
      return;
    }
    case 'register': {
      const id = f.id ?? '';
      // The passkey selects the project: the one whose passkey hash opens the proof.
      const passkey = (await registry.passkeyHashes()).reduce<string | undefined>((found, hash) => found ?? verifyProof(f.passkeyProof, hash, proofMessage('register', id, nonce)), undefined);
      if (passkey === undefined) throw new ClaError(ErrorCode.BadPasskey, BAD_PASSKEY_MESSAGE);
      const token = f.tokenProof === undefined || f.id === undefined ? undefined : verifyProof(f.tokenProof, await registry.workerTokenHash(f.id), proofMessage('register-token', id, nonce));
      const result = await registry.register({ passkey, id: f.id, token, agent: f.agent });
      hold.drop();
      deps.log.info({ worker: result.id, project: result.added }, 'worker registered');
      // A new token goes back sealed under the passkey: a recording of this connection holds no usable secret.
      const sealedToken = token === undefined ? seal(result.token, secretHash(passkey), proofMessage('registered', result.id, nonce)) : undefined;
      const answer = { id: result.id, projects: result.projects, added: result.added, ...(sealedToken === undefined ? {} : { sealedToken }) };
      void transport.send(frame('registered', answer)).then(() => transport.close(CloseCode.Normal, 'registered'));
      return;
    }
    case 'unregister': {
      const token = verifyProof(f.proof, await registry.workerTokenHash(f.id), proofMessage('unregister', f.id, nonce)) ?? '';
      const result = await registry.unregister(f.id, token, f.project);
      hold.drop();
      deps.log.info({ worker: f.id, project: f.project ?? '*' }, 'worker unregistered');
      deps.onUnregistered?.(f.id, result.projects);
      void transport.send(frame('unregistered', result)).then(() => transport.close(CloseCode.Normal, 'unregistered'));
      return;
    }
    case 'admin_hello': {
      const token = verifyProof(f.proof, await registry.adminTokenHash(), proofMessage('admin', '', nonce));
      if (token === undefined || !(await registry.checkAdminToken(token))) {
        throw new ClaError(ErrorCode.BadAdminToken, 'The admin token is not valid. The hub writes it next to its data file on first start (see `cla-hub start`).');
      }
      if (!transport.isOpen()) return hold.drop();
      void transport.send(frame('welcome', { session: transport.id, role: 'admin', projects: [], heartbeatMs: deps.heartbeatMs, disabled: false }));
      deps.onAdmin(hold.release());
      return;
    }
    default:
      throw new ClaError(ErrorCode.HelloRequired, `The first frame must be hello, register, unregister or admin_hello, got \`${f.t}\``);
  }
}

/** Admits a worker by a proof of the hub-wide pre-shared key (verifyProof compares hashes in constant time). */
async function pskWorker(hello: FrameOf<'hello'>, deps: RouterDeps, nonce: string) {
  if (deps.psk === undefined || verifyProof(hello.proof, secretHash(deps.psk), proofMessage('psk', hello.id, nonce)) === undefined) {
    throw new ClaError(ErrorCode.BadToken, 'The pre-shared key is not valid (or this hub was started without --psk). Use the key given to `cla-hub start --psk`.');
  }
  return deps.registry.pskWorker(hello.id, deps.pskProject ?? 'default', hello.agent);
}

function closeCodeFor(code: string): number {
  switch (code) {
    case ErrorCode.BadToken:
    case ErrorCode.BadAdminToken:
    case ErrorCode.DuplicateWorker:
      return CloseCode.AuthFailed;
    case ErrorCode.UnknownEnv:
      return CloseCode.UnknownEnv;
    case ErrorCode.HelloRequired:
      return CloseCode.PolicyViolation;
    default:
      return CloseCode.Normal;
  }
}

function refuse(transport: Transport, error: unknown, closeCode: number): void {
  if (!transport.isOpen()) return;
  const wire = toWireError(error);
  void transport
    .send(frame('error', { error: wire }))
    .catch(() => undefined)
    .finally(() => transport.close(closeCode, wire.code));
}
