// The doctor's line about the image store: where it is and whether this user can write there.
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { defaultStoreDir } from '../image/paths.js';
import type { Check } from './types.js';

export function imageStoreCheck(env: NodeJS.ProcessEnv = process.env): Check {
  const dir = defaultStoreDir(env);
  const title = 'image store';
  let probe = dir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  let writable = true;
  try {
    accessSync(probe, constants.W_OK | constants.X_OK);
  } catch {
    writable = false;
  }
  const source = env.SANDBOX_STORE
    ? '$SANDBOX_STORE'
    : process.getuid?.() === 0
      ? 'root'
      : env.XDG_DATA_HOME
        ? '$XDG_DATA_HOME'
        : '~/.local/share';
  if (!writable) {
    return {
      id: 'image-store',
      title,
      status: 'warn',
      detail: `${dir} (from ${source}) cannot be written by this user`,
      fix: 'set SANDBOX_STORE to a directory you own',
      neededByDefaults: false,
    };
  }
  let images = 0;
  try {
    images = readdirSync(`${dir}/images`).filter((n) => n.endsWith('.json')).length;
  } catch {
    // not made yet
  }
  const state = existsSync(dir) ? `${images} image${images === 1 ? '' : 's'}` : 'made on the first pull or import';
  return { id: 'image-store', title, status: 'info', detail: `${dir} (from ${source}; ${state})`, fix: null, neededByDefaults: false };
}
