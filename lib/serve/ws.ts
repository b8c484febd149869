// `/ws`: go-judge's WebSocket variant of /run. Each text message is a request with a requestId
// (or { cancelRequestId }); each answer is { requestId, results, error? }, in the order the runs
// end. A connection that closes kills its runs.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { SandboxError } from '../errors.js';
import type { JudgeServer } from './server.js';

/** Largest message, bytes (the same order as the HTTP body cap). */
const MAX_MESSAGE = 128 * 1024 * 1024;

/** Serves /ws on `http`; returns a function that ends every connection (after their runs). */
export function attachWebSocket(judge: JudgeServer, http: Server): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    const refuse = (code: number, text: string) => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    if (path !== '/ws') return refuse(404, 'Not Found');
    if (judge.draining) return refuse(503, 'Service Unavailable');
    if (!judge.authorized(req)) return refuse(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => serveConnection(judge, ws));
  });
  return () => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    wss.close();
  };
}

function serveConnection(judge: JudgeServer, ws: WebSocket): void {
  const runs = new Map<string, AbortController>();
  const send = (msg: unknown) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  ws.on('message', (data, isBinary) => {
    let msg: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse((data as Buffer).toString('utf8'));
      if (isBinary || typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
      msg = v as Record<string, unknown>;
    } catch (e) {
      // go-judge ends the connection on a message it cannot read.
      judge.log({ ws: true, error: `ws read error: ${(e as Error).message}` });
      ws.close(1003, 'invalid message');
      return;
    }
    if (typeof msg.cancelRequestId === 'string' && msg.cancelRequestId !== '') {
      runs.get(msg.cancelRequestId)?.abort();
      return;
    }
    const id = msg.requestId;
    if (typeof id !== 'string' || id === '') return send({ requestId: '', results: [], error: 'empty request id' });
    if (judge.draining) return send({ requestId: id, results: [], error: 'the server is shutting down' });
    if (runs.has(id)) return send({ requestId: id, results: [], error: `duplicated request id: ${id}` });
    const abort = new AbortController();
    runs.set(id, abort);
    judge.wsAborts.add(abort);
    const started = process.hrtime.bigint();
    judge
      .run(msg, abort.signal)
      .then(
        (results) => {
          send({ requestId: id, results });
          judge.log({
            ws: true,
            requestId: id,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
            statuses: results.map((r) => r.status),
          });
        },
        (e: unknown) => {
          const message = e instanceof Error ? e.message : String(e);
          send({ requestId: id, results: [], error: e instanceof SandboxError && e.stage === 'aborted' ? 'request cancelled' : message });
          judge.log({ ws: true, requestId: id, error: message });
        },
      )
      .finally(() => {
        runs.delete(id);
        judge.wsAborts.delete(abort);
      });
  });
  ws.on('close', () => {
    for (const a of runs.values()) a.abort();
  });
  ws.on('error', () => ws.terminate());
}
