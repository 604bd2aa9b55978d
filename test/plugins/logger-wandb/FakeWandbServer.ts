import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Parsed JSON body, when it is JSON. */
  json?: any;
}

/** How the server answers: normally, with HTTP 500 to everything, or never (a hung endpoint). */
export type ServerBehaviour = 'ok' | 'error500' | 'hang';

/**
 * A stand-in for the wandb API on 127.0.0.1 that records every request: GraphQL (Viewer,
 * UpsertBucket, CreateRunFiles), file_stream posts and PUTs to the upload URLs it hands out.
 */
export class FakeWandbServer {
  readonly requests: RecordedRequest[] = [];
  readonly uploads = new Map<string, Buffer>();
  behaviour: ServerBehaviour = 'ok';
  /** Answer like a server from before createRunFiles: a schema error, and upload URLs through RunUploadUrls. */
  legacy = false;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly hung = new Set<http.ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  graphql(operation: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === '/graphql' && typeof r.json?.query === 'string' && r.json.query.includes(operation));
  }

  fileStream(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/file_stream'));
  }

  /** Every wandb-history.jsonl line the file stream received, parsed. */
  historyLines(): Array<Record<string, any>> {
    return this.fileStream().flatMap((r) => (r.json?.files?.['wandb-history.jsonl']?.content ?? []).map((line: string) => JSON.parse(line)));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let json: any;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
      const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
      this.requests.push({ method: req.method ?? '', path, headers: req.headers, body, json });
      if (this.behaviour === 'hang') {
        this.hung.add(res);
        return;
      }
      if (this.behaviour === 'error500') return this.send(res, 500, { error: 'internal error' });
      if (path === '/graphql' && this.legacy && json?.query?.includes('createRunFiles')) {
        return this.send(res, 400, { errors: [{ message: 'Cannot query field "createRunFiles" on type "Mutation".' }] });
      }
      if (path === '/graphql') return this.send(res, 200, this.answer(json));
      if (path.startsWith('/upload/') && req.method === 'PUT') {
        this.uploads.set(path.slice('/upload/'.length), body);
        return this.send(res, 200, {});
      }
      if (path.endsWith('/file_stream')) return this.send(res, 200, { exitcode: null, limits: {} });
      this.send(res, 404, { error: `no route ${path}` });
    });
  }

  private answer(json: any): unknown {
    const query: string = json?.query ?? '';
    const vars = json?.variables ?? {};
    if (query.includes('query Viewer')) return { data: { viewer: { id: 'v1', entity: 'test-entity', flags: '{}', teams: { edges: [] } } } };
    if (query.includes('UpsertBucket')) {
      return {
        data: {
          upsertBucket: {
            bucket: {
              id: 'bucket-1',
              name: vars.name,
              displayName: vars.displayName ?? vars.name,
              description: null,
              config: vars.config ?? null,
              sweepName: null,
              project: { id: 'p1', name: vars.project, entity: { id: 'e1', name: vars.entity } },
            },
            inserted: true,
          },
        },
      };
    }
    if (query.includes('CreateRunFiles')) {
      return {
        data: {
          createRunFiles: {
            runID: 'bucket-1',
            uploadHeaders: ['X-Upload-Test:yes'],
            files: (vars.files as string[]).map((name) => ({ name, uploadUrl: `${this.url}/upload/${encodeURIComponent(name)}` })),
          },
        },
      };
    }
    if (query.includes('RunUploadUrls')) {
      return {
        data: {
          model: {
            bucket: {
              id: 'bucket-1',
              files: {
                uploadHeaders: ['X-Upload-Test:legacy'],
                edges: (vars.files as string[]).map((name) => ({ node: { name, url: `${this.url}/upload/${encodeURIComponent(name)}` } })),
              },
            },
          },
        },
      };
    }
    return { errors: [{ message: 'unknown operation' }] };
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

/** A port on 127.0.0.1 where nothing listens (connection refused). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
