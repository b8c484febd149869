// An image's config applied to a sandbox's configuration, as docker applies it (the OCI image
// spec's config, "docker run" reference):
//   - Env is the starting environment; PATH is the image's (docker's default when it sets none),
//     HOME the user's home from the image's /etc/passwd (else "/"); the `env` option adds and overrides;
//   - WorkingDir is the default working directory (the `cwd` option overrides);
//   - User is the identity inside (lib/image/user.ts), mapped as any id inside is;
//   - the command is Entrypoint + Cmd; a command given replaces Cmd; the `entrypoint` option
//     replaces Entrypoint and drops Cmd (an empty one clears Entrypoint).
import { SandboxError } from '../errors.js';
import type { ResolvedConfig } from '../validate.js';
import { readImageFile } from './layers.js';
import type { ImageRoot } from './root.js';
import type { ResolvedImage } from './types.js';
import { resolveImageUser } from './user.js';

/** docker's PATH for an image that sets none (moby's oci.DefaultPathEnv on Linux). */
export const DOCKER_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A run in an image: its root, and what of its config the run applies. */
export interface ImageRun extends ImageRoot {
  entrypoint: string[];
  cmd: string[];
  uid: number;
  gid: number;
}

/** The highest id inside with `idMap: 'subordinate'` (lib/subids.ts maps 0-65535). */
const SUBORDINATE_MAX_ID = 65535;

function envObject(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    // defineProperty: a "__proto__" name must stay a variable.
    const [k, v] = eq === -1 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
    if (k !== '' && !k.includes('\0')) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * `cfg` (options checked, image not yet applied; its env the caller's alone) with the image's
 * config applied; `cwdGiven`: the caller chose the working directory.
 */
export function applyImage(cfg: ResolvedConfig, image: ResolvedImage, cwdGiven: boolean): ResolvedConfig {
  const choice = cfg.image!;
  const name = JSON.stringify(image.ref);
  const user = resolveImageUser(image.config.user, readImageFile(image, '/etc/passwd'), readImageFile(image, '/etc/group'), image.ref);
  // Subordinate maps and a root caller's image map (owners.ts) hold ids 0-65535 inside.
  const ranged = cfg.idMap === 'subordinate' || process.getuid?.() === 0;
  if (ranged && (user.uid > SUBORDINATE_MAX_ID || user.gid > SUBORDINATE_MAX_ID)) {
    throw new SandboxError(
      `image ${name}: its User ${user.uid}:${user.gid} is above ${SUBORDINATE_MAX_ID}, the highest id ${cfg.idMap === 'subordinate' ? "idMap 'subordinate'" : "a root caller's sandbox"} maps`,
      { stage: 'image' },
    );
  }
  const base = envObject(image.config.env);
  base.PATH ??= DOCKER_DEFAULT_PATH;
  base.HOME ??= user.home;
  const cwd = cwdGiven ? cfg.cwd : image.config.workingDir || '/';
  if (!cwd.startsWith('/') || cwd.split('/').includes('..')) {
    throw new SandboxError(`image ${name}: its WorkingDir ${JSON.stringify(cwd)} is not an absolute path without '..'`, { stage: 'image' });
  }
  const run: ImageRun = {
    image,
    writable: cfg.writable,
    writableSize: cfg.writableSize,
    entrypoint: choice.entrypoint ?? image.config.entrypoint ?? [],
    cmd: choice.entrypoint !== null ? [] : (image.config.cmd ?? []),
    uid: user.uid,
    gid: user.gid,
  };
  return { ...cfg, env: { ...base, ...cfg.env }, cwd, imageRun: run };
}

/** The command of a run: Entrypoint + (the given command, else Cmd). */
export function imageArgv(run: ImageRun, argv: string[]): string[] {
  const full = [...run.entrypoint, ...(argv.length > 0 ? argv : run.cmd)];
  if (full.length === 0) {
    throw new SandboxError(`image ${JSON.stringify(run.image.ref)} has no Entrypoint or Cmd: give a command`, { stage: 'options' });
  }
  return full;
}
