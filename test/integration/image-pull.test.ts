// Pulls from a real registry (Debian's docker-registry on 127.0.0.1, plain HTTP, images pushed with
// skopeo), and through small front ends started here that misbehave on purpose: a token-auth gate,
// a proxy that alters a blob, a server that never answers. Root and rootless.
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { SandboxError, importImage, listImages, pullImage, resolveImage } from '../../lib/index.js';
import { missing, podmanFixtures, pushTo, snapshot, startRegistry, type Fixtures, type RunningRegistry } from '../helpers/images.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'dist/lib/sandbox-cli.cjs');
const skip = missing(['podman', 'skopeo', 'busybox', 'docker-registry']);
const built = skip === null ? podmanFixtures() : skip;
const fx: Fixtures | null = typeof built === 'string' ? null : built;
if (typeof built === 'string') console.log(`image-pull: skipped: ${built}`);
const t = fx ? test.serial : test.skip;

let reg: RunningRegistry;
let armDigest = '';
let amdDigest = '';
const servers: Server[] = [];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  return new Promise((r) => {
    const s = createServer(handler);
    servers.push(s);
    s.listen(0, '127.0.0.1', () => r(`127.0.0.1:${(s.address() as { port: number }).port}`));
  });
}

async function manifestDigest(repo: string, tag: string): Promise<{ digest: string; size: number; type: string }> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  const body = Buffer.from(await r.arrayBuffer());
  return { digest: r.headers.get('docker-content-digest')!, size: body.length, type: r.headers.get('content-type')! };
}

if (fx) {
  test.before(async () => {
    reg = await startRegistry();
    pushTo(`docker-archive:${fx.dockerArchive}`, reg.host, 'bb:1');
    pushTo(`docker-archive:${fx.childDockerArchive}`, reg.host, 'child:1');
    pushTo(`docker-archive:${fx.armDockerArchive}`, reg.host, 'multi:arm64');
    pushTo(`docker-archive:${fx.dockerArchive}`, reg.host, 'multi:amd64');
    const amd = await manifestDigest('multi', 'amd64');
    const arm = await manifestDigest('multi', 'arm64');
    amdDigest = amd.digest;
    armDigest = arm.digest;
    // A manifest list over the two, put to the registry by hand (what `docker manifest push` sends).
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { mediaType: amd.type, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: arm.type, digest: arm.digest, size: arm.size, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const put = await fetch(`http://${reg.host}/v2/multi/manifests/latest`, {
      method: 'PUT',
      headers: { 'content-type': list.mediaType },
      body: JSON.stringify(list),
    });
    if (!put.ok) throw new Error(`PUT manifest list: ${put.status} ${await put.text()}`);
  });
  test.after.always(async () => {
    for (const s of servers) s.closeAllConnections?.(), s.close();
    await reg?.stop();
  });
}

/** Passes a request on to the real registry, as it is. */
async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const up = await fetch(`http://${reg.host}${req.url}`, { headers: { accept: String(req.headers.accept ?? '') } });
  res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? '' });
  res.end(Buffer.from(await up.arrayBuffer()));
}

function store(): string {
  return mkdtempSync(join(tmpdir(), 'img-pull-'));
}

t('pull: the image a registry holds, the same as importing its archive', async (t) => {
  const s = store();
  const seen: string[] = [];
  const r = await pullImage(`${reg.host}/bb:1`, { store: s, onProgress: (p) => seen.push(p.step) });
  t.deepEqual(r.names, [`${reg.host}/bb:1`]);
  const imported = await importImage(fx!.dockerArchive, { store: s, name: 'same' });
  t.is(r.id, imported.id, 'the config digest is the image id, whichever way it came');
  t.is(readdirSync(join(s, 'layers')).length, 1);
  t.true(seen.includes('resolve') && seen.includes('layers') && seen.at(-1) === 'done');
  const img = resolveImage(`${reg.host}/bb:1`, { store: s });
  t.deepEqual(img.config.cmd, ['/bin/cat', '/etc/greeting']);
  const child = await pullImage(`${reg.host}/child:1`, { store: s });
  t.is(child.layersShared, 1, 'the base layer is not fetched again');
  const pinned = await pullImage(`${reg.host}/bb@${r.manifestDigest}`, { store: s });
  t.is(pinned.id, r.id);
  t.is(resolveImage(`${reg.host}/bb@${r.manifestDigest}`, { store: s }).id, r.id);
  rmSync(s, { recursive: true, force: true });
});

t('pull: a manifest list picks the host platform, or --platform', async (t) => {
  const s = store();
  const host = await pullImage(`${reg.host}/multi:latest`, { store: s });
  t.is(host.platform, 'linux/amd64');
  t.is(host.manifestDigest, amdDigest);
  const arm = await pullImage(`${reg.host}/multi:latest`, { store: s, platform: 'linux/arm64' });
  t.is(arm.platform, 'linux/arm64');
  t.is(arm.manifestDigest, armDigest);
  const before = snapshot(s);
  const e = await t.throwsAsync(pullImage(`${reg.host}/multi:latest`, { store: s, platform: 'linux/s390x' }), { instanceOf: SandboxError });
  t.is(e!.stage, 'image');
  t.regex(e!.message, /^image ".*multi:latest": manifest: no linux\/s390x image in the index \(it has linux\/amd64, linux\/arm64\)$/);
  t.is(snapshot(s), before);
  rmSync(s, { recursive: true, force: true });
});

t('pull: a tag or repository that does not exist', async (t) => {
  const s = store();
  for (const ref of [`${reg.host}/bb:nope`, `${reg.host}/nothing:1`]) {
    const e = await t.throwsAsync(pullImage(ref, { store: s }), { instanceOf: SandboxError });
    t.regex(e!.message, /manifest: not found \(404/);
  }
  t.deepEqual(listImages({ store: s }), []);
  rmSync(s, { recursive: true, force: true });
});

t('pull: a blob that does not match its digest is refused, the store unchanged', async (t) => {
  const s = store();
  await importImage(fx!.rootfsTar, { store: s, name: 'unrelated' }).catch(() => {});
  // Forwards to the real registry; flips one byte near the end of every layer blob.
  const host = await listen(async (req, res) => {
    const up = await fetch(`http://${reg.host}${req.url}`, { headers: { accept: String(req.headers.accept ?? '') } });
    const body = Buffer.from(await up.arrayBuffer());
    if (/\/blobs\//.test(req.url!) && body.length > 10000) body[body.length - 600] ^= 0x01;
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(body);
  });
  // A store with a different base, so the layer is fetched (and checked).
  const fresh = store();
  const e = await t.throwsAsync(pullImage(`${host}/child:1`, { store: fresh }), { instanceOf: SandboxError });
  t.regex(e!.message, /^image ".*child:1": layers: .*(digest mismatch|corrupt)/);
  t.deepEqual(listImages({ store: fresh }), []);
  t.deepEqual(readdirSync(join(fresh, 'layers')), [], 'no layer was kept');
  t.deepEqual(readdirSync(join(fresh, 'tmp')), [], 'no staging left');
  rmSync(s, { recursive: true, force: true });
  rmSync(fresh, { recursive: true, force: true });
});

t('pull: a registry that never answers, or stalls mid-blob, times out', async (t) => {
  const s = store();
  const silent = await listen(() => {
    // never answers
  });
  const e = await t.throwsAsync(pullImage(`${silent}/bb:1`, { store: s, timeoutMs: 300 }), { instanceOf: SandboxError });
  t.regex(e!.message, /manifest: no response in 0\.3 s/);
  const stall = await listen(async (req, res) => {
    const up = await fetch(`http://${reg.host}${req.url}`, { headers: { accept: String(req.headers.accept ?? '') } });
    const body = Buffer.from(await up.arrayBuffer());
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? '', 'content-length': String(body.length) });
    if (/\/blobs\//.test(req.url!) && body.length > 10000)
      res.write(body.subarray(0, 5000)); // then nothing
    else res.end(body);
  });
  const e2 = await t.throwsAsync(pullImage(`${stall}/bb:1`, { store: s, idleTimeoutMs: 300 }), { instanceOf: SandboxError });
  t.regex(e2!.message, /layers: the transfer stalled for 0\.3 s/);
  t.deepEqual(listImages({ store: s }), []);
  rmSync(s, { recursive: true, force: true });
});

t('pull: Bearer token auth with credentials from REGISTRY_AUTH_FILE; refused without', async (t) => {
  const s = store();
  const dir = mkdtempSync(join(tmpdir(), 'img-auth-'));
  const TOKEN = 'tok-' + Math.random().toString(36).slice(2);
  let gate = '';
  gate = await listen(async (req, res) => {
    if (req.url!.startsWith('/token')) {
      const url = new URL(req.url!, 'http://x');
      const ok = req.headers.authorization === 'Basic ' + Buffer.from('alice:s3cret').toString('base64');
      if (!ok || url.searchParams.get('service') !== 'gate' || !url.searchParams.get('scope')?.startsWith('repository:bb:pull')) {
        res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${gate}/token",service="gate",scope="repository:bb:pull"` }).end();
      return;
    }
    await forward(req, res);
  });
  const none = await t.throwsAsync(pullImage(`${gate}/bb:1`, { store: s, env: { HOME: dir } }), { instanceOf: SandboxError });
  t.regex(none!.message, /manifest: the token service refused: 401/);
  const auth = join(dir, 'auth.json');
  writeFileSync(auth, JSON.stringify({ auths: { [gate]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  const r = await pullImage(`${gate}/bb:1`, { store: s, env: { REGISTRY_AUTH_FILE: auth } });
  t.is(r.layers, 1);
  rmSync(dir, { recursive: true, force: true });
  rmSync(s, { recursive: true, force: true });
});

t('pull: Basic auth with credentials from ~/.docker/config.json', async (t) => {
  const s = store();
  const home = mkdtempSync(join(tmpdir(), 'img-home-'));
  const basic = 'Basic ' + Buffer.from('bob:pw').toString('base64');
  const gate = await listen(async (req, res) => {
    if (req.headers.authorization !== basic) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      return;
    }
    await forward(req, res);
  });
  const none = await t.throwsAsync(pullImage(`${gate}/bb:1`, { store: s, env: { HOME: home } }), { instanceOf: SandboxError });
  t.regex(none!.message, /manifest: the registry asks for credentials/);
  execFileSync('mkdir', ['-p', join(home, '.docker')]);
  writeFileSync(
    join(home, '.docker/config.json'),
    JSON.stringify({ auths: { [gate]: { auth: Buffer.from('bob:pw').toString('base64') } } }),
  );
  const r = await pullImage(`${gate}/bb:1`, { store: s, env: { HOME: home } });
  t.is(r.layers, 1);
  rmSync(home, { recursive: true, force: true });
  rmSync(s, { recursive: true, force: true });
});

t('two processes pulling the same image: both succeed, one image, its layer stored once', async (t) => {
  const s = store();
  const pull = (): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((done) => {
      const c = spawn(process.execPath, [cli, 'image', 'pull', `${reg.host}/child:1`], { env: { ...process.env, SANDBOX_STORE: s } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('exit', (code) => done({ code, out, err }));
    });
  const [a, b] = await Promise.all([pull(), pull()]);
  t.is(a.code, 0, a.err);
  t.is(b.code, 0, b.err);
  t.is(a.out, b.out);
  t.is(listImages({ store: s }).length, 1);
  t.is(readdirSync(join(s, 'layers')).length, 2);
  t.deepEqual(readdirSync(join(s, 'tmp')), []);
  rmSync(s, { recursive: true, force: true });
});

t('pull: an AbortSignal stops it; nothing is kept', async (t) => {
  const s = store();
  for (const at of ['resolve', 'layers'] as const) {
    const ctl = new AbortController();
    const e = await t.throwsAsync(
      pullImage(`${reg.host}/child:1`, { store: s, signal: ctl.signal, onProgress: (p) => p.step === at && ctl.abort() }),
      { instanceOf: SandboxError },
    );
    t.regex(e!.message, /^image ".*child:1": (manifest|layers): aborted$/, at);
  }
  t.deepEqual(listImages({ store: s }), []);
  t.deepEqual(readdirSync(join(s, 'layers')), []);
  t.deepEqual(readdirSync(join(s, 'tmp')), []);
  rmSync(s, { recursive: true, force: true });
});

t('CLI: a failed pull is one line on stderr and exit 125', (t) => {
  const s = store();
  let r;
  try {
    execFileSync(process.execPath, [cli, 'image', 'pull', `${reg.host}/bb:absent`], {
      env: { ...process.env, SANDBOX_STORE: s },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    r = e as { status: number; stdout: string; stderr: string };
  }
  t.is(r!.status, 125);
  t.is(r!.stdout, '');
  t.regex(r!.stderr, /^sandbox: image ".*bb:absent": manifest: not found \(404 MANIFEST_UNKNOWN.*\n$/);
  rmSync(s, { recursive: true, force: true });
});
