// AVA's configuration for the rootless pass (test/helpers/run-rootless.js): the package.json
// configuration, with the cache off. AVA caches under node_modules/.cache/ava, which the
// unprivileged uid cannot write; with `cache: false` it uses a fresh directory under the
// system's temp dir instead (ava/lib/api.js, _createCacheDir).
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

export default { ...pkg.ava, cache: false };
