// Where the image store lives and how it is laid out. One place for every path of the store.
//
//   STORE/blobs/sha256/HEX     configs and manifests as fetched (small JSON, content-addressed)
//   STORE/layers/HEX/          a layer extracted, named by its diff id (the digest of the
//                              uncompressed tar): the same layer from any source is stored once
//   STORE/images/HEX.json      an image: its layers, run config, platform (HEX: the config digest)
//   STORE/flat/HEX/            an image's root flattened, made on request (overlay fallback)
//   STORE/refs.json            names → image ids, replaced whole by rename
//   STORE/tmp/                 staging: everything is made here, then renamed into place
//   STORE/lock                 held while names and images change (lib/image/lock.ts)
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** $SANDBOX_STORE, else $XDG_DATA_HOME/sandbox, else ~/.local/share/sandbox; root: /var/lib/sandbox. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOX_STORE) return resolve(env.SANDBOX_STORE);
  if (process.getuid?.() === 0) return '/var/lib/sandbox';
  if (env.XDG_DATA_HOME) return join(resolve(env.XDG_DATA_HOME), 'sandbox');
  return join(env.HOME || homedir(), '.local', 'share', 'sandbox');
}

export class StorePaths {
  constructor(readonly root: string) {}
  get blobs(): string {
    return join(this.root, 'blobs', 'sha256');
  }
  blob(digest: string): string {
    return join(this.blobs, hexOf(digest));
  }
  get layers(): string {
    return join(this.root, 'layers');
  }
  layer(diffId: string): string {
    return join(this.layers, hexOf(diffId));
  }
  get images(): string {
    return join(this.root, 'images');
  }
  image(id: string): string {
    return join(this.images, hexOf(id) + '.json');
  }
  get flats(): string {
    return join(this.root, 'flat');
  }
  flat(id: string): string {
    return join(this.flats, hexOf(id));
  }
  get refs(): string {
    return join(this.root, 'refs.json');
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get lock(): string {
    return join(this.root, 'lock');
  }
}

/** The hex part of `sha256:HEX` (the only algorithm the store keeps). */
export function hexOf(digest: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new TypeError(`not a sha256 digest: ${digest}`);
  return digest.slice(7);
}
