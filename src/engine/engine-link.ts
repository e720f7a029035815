/**
 * The hub's link to its NATS JetStream engine (issue 10), made once in create-hub.ts from `--engine` /
 * `CLA_HUB_ENGINE` and handed to every part that needs the engine: the task store
 * (jetstream-task-store.ts) and, through `HubContext.engine`, every hub extension (presence, routing,
 * broadcast). `connect()` opens one connection the first time and gives the same one after; the hub
 * closes it once, after every extension stopped.
 */
import { ClaError, ErrorCode } from '../errors.ts';
import { connectEngine, type NatsEngine } from './nats-connect.ts';

/** One connection to the engine, opened on first use. */
export class EngineLink {
  private connecting: Promise<NatsEngine> | undefined;
  private engine: NatsEngine | undefined;

  constructor(
    /** The servers of `--engine`, as given. */
    readonly servers: string[],
    /** The client name the server shows (`cla-hub <hub id>`). */
    readonly name = 'cla-hub',
  ) {}

  /** The connection; the first call opens it. @throws ClaError CONNECTION_FAILED naming the servers */
  connect(): Promise<NatsEngine> {
    this.connecting ??= connectEngine(this.servers, { name: this.name }).then(
      (engine) => (this.engine = engine),
      (cause: unknown) => {
        throw new ClaError(ErrorCode.ConnectionFailed, `Cannot use the engine at ${this.servers.join(', ')} (${(cause as Error)?.message ?? String(cause)}): start nats-server with JetStream (\`nats-server -js\`), or fix --engine / CLA_HUB_ENGINE`, {
          cause,
          retryable: true,
          data: { servers: this.servers },
        });
      },
    );
    return this.connecting;
  }

  /** The connection once open, else undefined. */
  get current(): NatsEngine | undefined {
    return this.engine;
  }

  /** Drains and closes the connection if one was opened. */
  async close(): Promise<void> {
    const connecting = this.connecting;
    if (!connecting) return;
    const engine = await connecting.catch(() => undefined);
    await engine?.close();
  }
}
