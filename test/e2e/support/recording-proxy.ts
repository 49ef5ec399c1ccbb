/**
 * A recording HTTP proxy for watching server-to-server traffic on the wire: it listens on
 * 127.0.0.1 at the same port number as the server it fronts (which listens on another loopback
 * address, e.g. 127.0.0.2), so the caller can use `http://localhost:<port>`. That authority is one
 * the receiving server accepts in audiences (it accepts `localhost:<its port>`), so the tokens the
 * caller mints for the proxy's URL are valid at the real server and nothing needs rewriting: the
 * proxy forwards bytes, and records each request's raw headers and body and the raw headers of
 * the answer.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request that went through the proxy, and the answer it got. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Header names and values as they arrived, in order, duplicates kept (IncomingMessage.rawHeaders). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  status?: number;
  responseRawHeaders?: readonly string[];
}

/** A running proxy. */
export interface RecordingProxy {
  readonly port: number;
  readonly recorded: RecordedRequest[];
  close(): Promise<void>;
}

function readBody(message: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.on('end', () => resolve(Buffer.concat(chunks)));
    message.on('error', reject);
  });
}

/** Pairs of `rawHeaders` as [name, value] tuples. */
export function headerPairs(rawHeaders: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) pairs.push([rawHeaders[index] as string, rawHeaders[index + 1] as string]);
  return pairs;
}

/**
 * Starts a proxy on `127.0.0.1:<port>` (port 0: a free one) forwarding to `targetHost:<the same
 * port>`. The target need not be listening yet.
 */
export async function startRecordingProxy(options: { readonly targetHost: string; readonly port?: number }): Promise<RecordingProxy> {
  const recorded: RecordedRequest[] = [];
  // No keep-alive towards the target: nothing pooled outlives the proxy.
  const agent = new Agent({ keepAlive: false });
  let port = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const entry: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', rawHeaders: [...req.rawHeaders], body };
      recorded.push(entry);
      const headers: [string, string][] = headerPairs(req.rawHeaders).filter(([name]) => name.toLowerCase() !== 'connection');
      const forward = httpRequest(
        { host: options.targetHost, port, method: req.method, path: req.url, headers: headers.flat(), agent },
        (answer) => {
          entry.status = answer.statusCode ?? 0;
          entry.responseRawHeaders = [...answer.rawHeaders];
          const answerHeaders = headerPairs(answer.rawHeaders).filter(([name]) => !['connection', 'keep-alive'].includes(name.toLowerCase()));
          res.writeHead(answer.statusCode ?? 502, answerHeaders.flat());
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        entry.status = 502;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('proxy: the target did not answer');
      });
      forward.end(body);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    recorded,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
