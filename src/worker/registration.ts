/** `cla-worker register` and `unregister`: one-shot calls to the hub over the websocket. */
import os from 'node:os';
import { frame } from '../protocol/frames.ts';
import { exchange } from '../transport/exchange.ts';
import { connectWs, type ClientTlsOptions } from '../transport/ws-client.ts';
import { AGENT_VERSION } from './agent.ts';

/** What the hub answered to a registration. */
export interface Registration {
  id: string;
  token: string;
  projects: string[];
  added: string;
}

/** Connection settings shared by the one-shot calls. */
export interface HubCallOptions {
  url: string;
  tls?: ClientTlsOptions;
}

/** Registers this worker with a project passkey. `token` proves ownership when adding a project to an existing id. */
export async function registerWorker(options: HubCallOptions & { passkey: string; id?: string; token?: string }): Promise<Registration> {
  const transport = await connectWs(options.url, { tls: options.tls });
  try {
    const answer = await exchange(
      transport,
      frame('register', {
        passkey: options.passkey,
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(options.token === undefined ? {} : { token: options.token }),
        agent: { version: AGENT_VERSION, pid: process.pid, user: os.userInfo().username, host: os.hostname(), platform: `${process.platform}-${process.arch}` },
      }),
      'registered',
    );
    return { id: answer.id, token: answer.token, projects: answer.projects, added: answer.added };
  } finally {
    transport.close(1000, 'done');
  }
}

/** Unregisters a worker from every project, or from `project` only; resolves with the projects it keeps. */
export async function unregisterWorker(options: HubCallOptions & { id: string; token: string; project?: string }): Promise<string[]> {
  const transport = await connectWs(options.url, { tls: options.tls });
  try {
    const answer = await exchange(
      transport,
      frame('unregister', { id: options.id, token: options.token, ...(options.project === undefined ? {} : { project: options.project }) }),
      'unregistered',
    );
    return answer.projects;
  } finally {
    transport.close(1000, 'done');
  }
}
