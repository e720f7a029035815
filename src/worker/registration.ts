/** `cla-worker register` and `unregister`: one-shot calls to the hub over the websocket. */
import os from 'node:os';
import { ClaError, ErrorCode } from '../errors.ts';
import { proofMessage, prove, secretHash, unseal } from '../protocol/auth-proof.ts';
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
    let sent = '';
    const answer = await exchange(
      transport,
      (nonce) => {
        sent = nonce;
        const id = options.id ?? '';
        return frame('register', {
          passkeyProof: prove(options.passkey, proofMessage('register', id, nonce)),
          ...(options.id === undefined ? {} : { id: options.id }),
          ...(options.token === undefined ? {} : { tokenProof: prove(options.token, proofMessage('register-token', id, nonce)) }),
          agent: { version: AGENT_VERSION, pid: process.pid, user: os.userInfo().username, host: os.hostname(), platform: `${process.platform}-${process.arch}` },
        });
      },
      'registered',
    );
    // A new worker's token comes sealed under the passkey; an added project keeps the token we have.
    const token = answer.sealedToken === undefined ? options.token : unseal(answer.sealedToken, secretHash(options.passkey), proofMessage('registered', answer.id, sent));
    if (token === undefined) throw new ClaError(ErrorCode.Internal, 'The hub sent no token for the new registration');
    return { id: answer.id, token, projects: answer.projects, added: answer.added };
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
      (nonce) => frame('unregister', { id: options.id, proof: prove(options.token, proofMessage('unregister', options.id, nonce)), ...(options.project === undefined ? {} : { project: options.project }) }),
      'unregistered',
    );
    return answer.projects;
  } finally {
    transport.close(1000, 'done');
  }
}
