/**
 * One client of the raw floor (bench/peers/floor.ts), in its own process like a worker: a bare `ws`
 * client (no permessage-deflate) that answers each msgpack request `{id, data}` with `{id, result: data}`.
 * It counts the ids it answered and sends the counts to the parent on `report`.
 * Usage (by floor.ts): node --import tsx bench/peers/floor-client.ts URL NAME
 */
import { Packr } from 'msgpackr';
import { WebSocket } from 'ws';
import { exitOnSigterm, onParent, tell } from './common.ts';

const [url, name] = process.argv.slice(2);
if (url === undefined || name === undefined) throw new Error('usage: floor-client.ts URL NAME');

// Plain msgpack maps, as src/protocol/codec.ts encodes frames (no records, no shared structures).
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false } as ConstructorParameters<typeof Packr>[0]);
const processed: Record<string, number> = {};

const ws = new WebSocket(`${url}/?name=${encodeURIComponent(name)}`, { perMessageDeflate: false });
ws.on('message', (raw: Buffer) => {
  const request = packr.unpack(raw) as { id: string; data: unknown };
  processed[request.id] = (processed[request.id] ?? 0) + 1;
  ws.send(packr.pack({ id: request.id, result: request.data }));
});
ws.on('error', (error) => tell({ type: 'error', message: error.message }));
onParent((message) => {
  if (message.type === 'report') tell({ type: 'processed', id: name, ids: processed });
});
exitOnSigterm(async () => {
  if (ws.readyState === WebSocket.CLOSED) return;
  await new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close(1000, 'done');
  });
});
