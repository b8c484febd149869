// A client of the OCI distribution API (distribution-spec, "pull"): GET manifests and blobs, with
// Bearer token auth (the WWW-Authenticate challenge) or Basic auth, timeouts on connecting and on a
// stalled body. Plain HTTP only for localhost, 127.0.0.0/8 and ::1, as docker allows.
import { isIP } from 'node:net';
import { LayerError } from './extract.js';
import { credentialsFor, parseChallenge, type Credentials } from './auth.js';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** True for hosts that may speak plain HTTP. */
export function isLocalHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

export interface RegistryOptions {
  /** No response headers for this long: the request fails (default 30 s). */
  timeoutMs?: number;
  /** No body bytes for this long: the transfer fails (default 30 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export class Registry {
  readonly base: string;
  private token: string | null = null;
  private readonly creds: Credentials | null;

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly opts: RegistryOptions = {},
  ) {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.base = `${isLocalHost(host) ? 'http' : 'https'}://${host}/v2/${repository}`;
    this.creds = credentialsFor(registry, opts.env);
  }

  /** A GET of PATH (below /v2/REPO/), authenticated, with headers within the timeout. */
  async get(path: string, accept: string[] = []): Promise<{ res: Response; body: () => AsyncIterable<Buffer> }> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const ctl = new AbortController();
      const onAbort = (): void => ctl.abort(this.opts.signal!.reason);
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      const timeout = this.opts.timeoutMs ?? 30_000;
      let timer = setTimeout(() => ctl.abort(new RegistryError(`no response in ${timeout / 1000} s`)), timeout);
      const headers: Record<string, string> = {};
      if (accept.length > 0) headers.accept = accept.join(', ');
      if (this.token !== null) headers.authorization = this.token;
      let res: Response;
      try {
        res = await fetch(`${this.base}/${path}`, { headers, signal: ctl.signal, redirect: 'follow' });
      } catch (e) {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', onAbort);
        throw this.fetchError(e, ctl.signal);
      }
      if (res.status === 401 && attempt === 0) {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', onAbort);
        await res.body?.cancel().catch(() => {});
        await this.authenticate(res.headers.get('www-authenticate') ?? '', ctl.signal);
        continue;
      }
      if (!res.ok) {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', onAbort);
        const text = await res.text().catch(() => '');
        throw new RegistryError(describeStatus(res.status, text), res.status);
      }
      const idle = this.opts.idleTimeoutMs ?? 30_000;
      const self = this;
      return {
        res,
        body: async function* () {
          const arm = (): void => {
            clearTimeout(timer);
            timer = setTimeout(() => ctl.abort(new RegistryError(`the transfer stalled for ${idle / 1000} s`)), idle);
          };
          arm();
          try {
            if (res.body === null) return;
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              arm();
              yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
            }
          } catch (e) {
            throw self.fetchError(e, ctl.signal);
          } finally {
            clearTimeout(timer);
            self.opts.signal?.removeEventListener('abort', onAbort);
          }
        },
      };
    }
    throw new RegistryError('the registry refused the credentials (401 Unauthorized)', 401);
  }

  /** A small document (manifest), at most LIMIT bytes. */
  async getSmall(path: string, accept: string[], limit = 4 << 20): Promise<{ bytes: Buffer; type: string; digest: string | null }> {
    const { res, body } = await this.get(path, accept);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of body()) {
      n += c.length;
      if (n > limit) throw new LayerError(`${path}: larger than ${limit} bytes`);
      chunks.push(c);
    }
    return { bytes: Buffer.concat(chunks), type: res.headers.get('content-type') ?? '', digest: res.headers.get('docker-content-digest') };
  }

  private fetchError(e: unknown, signal: AbortSignal): Error {
    if (signal.aborted) {
      const r = signal.reason as unknown;
      if (r instanceof RegistryError) return r;
      if (r instanceof Error) return r;
    }
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.cause?.code ?? err.cause?.message ?? err.message;
    return new RegistryError(`cannot reach ${this.base.replace(/\/v2\/.*$/, '')}: ${why}`);
  }

  private async authenticate(header: string, signal: AbortSignal): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const basic = this.creds ? 'Basic ' + Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64') : null;
    if (scheme === 'basic') {
      if (basic === null)
        throw new RegistryError(`the registry asks for credentials (none in ~/.docker/config.json or REGISTRY_AUTH_FILE)`, 401);
      this.token = basic;
      return;
    }
    if (scheme !== 'bearer' || !params.realm)
      throw new RegistryError(`the registry refused (401) with a challenge this client does not know: ${header || 'none'}`, 401);
    const url = new URL(params.realm);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLocalHost(url.host))) {
      throw new RegistryError(`the token service ${url.origin} is not HTTPS`);
    }
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.repository}:pull`);
    const timeout = this.opts.timeoutMs ?? 30_000;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
      });
    } catch (e) {
      throw this.fetchError(e, signal);
    }
    if (!res.ok) throw new RegistryError(`the token service refused: ${res.status} ${res.statusText}`, res.status);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('the token service gave no token');
    this.token = `Bearer ${token}`;
  }
}

function describeStatus(status: number, text: string): string {
  let code = '';
  try {
    const errs = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
    if (errs?.[0]) code = `${errs[0].code ?? ''}${errs[0].message ? ': ' + errs[0].message : ''}`;
  } catch {
    // not the spec's error body
  }
  const name =
    status === 404
      ? 'not found'
      : status === 401
        ? 'unauthorized'
        : status === 403
          ? 'denied'
          : status === 429
            ? 'too many requests'
            : `HTTP ${status}`;
  return `${name} (${status}${code ? ' ' + code : ''})`;
}
