/**
 * The hub's codec work per task on the task path, alone, for a payload of some size (bytes11, issue 9):
 * `values` is the path before a task's data and result were msgpack bytes (the lease step parses the stored
 * JSON, `task_push` encodes the value, `task_done` is decoded with its result checked, `complete` writes
 * JSON and parses it and the data back for the row); `bytes` is the path since (the stored bytes go into
 * `task_push` as a bin, `task_done` is decoded with its result as a bin). No SQLite, sockets or workers: CPU
 * of the process per task. ROOT is the tree whose src/ is measured: a tree before protocol version 3 for
 * `values` (its frames carry values), this one for `bytes`.
 *
 * Usage: node --import tsx bench/peers/task-values.mts ROOT values|bytes
 */
const root = process.argv[2]!;
const mode = process.argv[3]!;
const codec = await import(`${root}/src/protocol/codec.ts`);
const { frame } = await import(`${root}/src/protocol/frames.ts`);
const json = await import(`${root}/src/hub/tasks/task-json.ts`);
const value = { id: '/srv/data/old.log', kind: 'file', attrs: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key${i}`, `value number ${i} of the resource`])), tags: { owner: 'qa', team: 'infra' }, list: Array.from({ length: 20 }, (_, i) => i * 1.5) };
const N = 50_000;
let step: () => void;
if (mode === 'values') {
  const stored = json.encodeTaskValue(value);
  const done = codec.encodeFrame(frame('task_done', { re: 't1', lease: 'abcdefghijklmnop', result: value }));
  step = () => {
    const data = json.decodeTaskValue(stored); // lease step reads the pending row
    codec.encodeFrame(frame('task_push', { id: 't1', name: 'tag', attrs: {}, data, lease: 'abcdefghijklmnop', ttlMs: 30000 }));
    const f = codec.decodeFrame(done); // task_done, validated
    const text = json.encodeTaskValue(f.result); // complete(): the column
    json.decodeTaskValue(text); // complete(): the row's result
    json.decodeTaskValue(stored); // complete(): the row's data
  };
} else {
  const stored = Buffer.from(codec.encodeValue(value));
  const done = codec.encodeFrame(frame('task_done', { re: 't1', lease: 'abcdefghijklmnop', result: codec.encodeValue(value) }));
  step = () => {
    codec.encodeFrame(frame('task_push', { id: 't1', name: 'tag', attrs: {}, data: stored, lease: 'abcdefghijklmnop', ttlMs: 30000 }));
    codec.decodeFrame(done);
  };
}
console.log(mode, 'payload', JSON.stringify(value).length, 'JSON chars,', codec.encodeValue ? codec.encodeValue(value).length : '?', 'msgpack bytes');
for (let i = 0; i < 5000; i++) step();
for (let r = 0; r < 3; r++) {
  const t = process.cpuUsage();
  for (let i = 0; i < N; i++) step();
  const d = process.cpuUsage(t);
  console.log(mode, 'us per task', ((d.user + d.system) / N).toFixed(2));
}
