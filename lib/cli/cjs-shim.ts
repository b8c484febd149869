// Injected by esbuild into the CommonJS `sandbox` bin (package.json "build:cli"), where it stands
// for `import.meta.url`: the bin is CommonJS because Node 20 starts a CommonJS file 15-20 ms sooner
// than an ES module (no ESM loader to set up). Not imported by anything else.
import { pathToFileURL } from 'node:url';

export const importMetaUrl = pathToFileURL(__filename).href;
