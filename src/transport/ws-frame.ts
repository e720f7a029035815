/**
 * Websocket frames made here instead of by ws, so that one frame is one socket write (issue 9): the hub's
 * broadcast frame (ws-server.ts `serverFrame`) and a worker's small frames to a loopback hub
 * (ws-client.ts), where ws would write a header and an unmasked payload as two buffers, which Node
 * then gathers in a `writev`.
 */

/**
 * `bytes` as one final binary websocket frame (RFC 6455 5.2): unmasked (server to client), or `zeroMask`
 * with an all-zero masking key (client to server, allowed only where ws-client.ts `zeroMaskAllowed`
 * says so; the key leaves the payload as it is, as ws does with its own zero key).
 */
export function binaryFrame(bytes: Uint8Array, zeroMask: boolean): Buffer {
  const length = bytes.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = 2 + lengthBytes + (zeroMask ? 4 : 0);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x82; // FIN, opcode 2 (binary)
  const maskBit = zeroMask ? 0x80 : 0;
  if (lengthBytes === 0) frame[1] = maskBit | length;
  else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  if (zeroMask) frame.writeUInt32BE(0, header - 4);
  frame.set(bytes, header);
  return frame;
}
