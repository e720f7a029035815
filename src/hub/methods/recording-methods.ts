/**
 * `recording.read`: the hub's own recording (`cla-hub start --record FILE`) as readable lines, for
 * `cla-hub replay --from-hub` on another host. Formatted on the hub, so secrets are masked before they
 * leave it (src/transport/recording-format.ts); only the tail is read, so a long recording stays cheap.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { ClaError, ErrorCode } from '../../errors.ts';
import { formatRecording } from '../../transport/recording-format.ts';
import type { RecordLine } from '../../transport/recorder.ts';
import type { HubExtension } from '../hub-extension.ts';
import { callMethod } from './method-table.ts';

/** Most bytes of the recording read from its end. */
const MAX_TAIL_BYTES = 8 * 1024 * 1024;

/** Reads the last `maxBytes` of a file as whole lines. */
function tailLines(file: string, maxBytes: number): string[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    fs.readSync(fd, buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // a partial first line
    return lines.filter((line) => line.trim() !== '');
  } finally {
    fs.closeSync(fd);
  }
}

/** The recording methods of a hub that records to `file` (none recorded: the method says so). */
export function recordingExtension(file: string | undefined): HubExtension {
  return {
    methods: () => [
      callMethod({
        name: 'recording.read',
        summary: "The last lines of the hub's recording (`cla-hub start --record`), formatted with secrets masked.",
        params: z.object({ limit: z.number().int().min(1).max(100_000).default(1000) }).strict(),
        readOnly: true,
        call: ({ limit }) => {
          if (file === undefined) throw new ClaError(ErrorCode.Unsupported, 'This hub is not recording: start it with `cla-hub start --record FILE`.');
          const raw = tailLines(file, MAX_TAIL_BYTES);
          const parsed: RecordLine[] = [];
          for (const line of raw) {
            try {
              parsed.push(JSON.parse(line) as RecordLine);
            } catch {
              // a line being written right now
            }
          }
          const shown = formatRecording(parsed);
          return { file, total: shown.length, lines: shown.slice(-limit) };
        },
      }),
    ],
  };
}
