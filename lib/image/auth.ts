// Registry credentials: ~/.docker/config.json, or the file REGISTRY_AUTH_FILE names (podman's
// auth.json has the same `auths` form). Only inline `auth` (base64 user:password) entries are read;
// credential helpers are not run.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

function authFile(env: NodeJS.ProcessEnv): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return join(env.DOCKER_CONFIG ?? join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The credentials stored for REGISTRY (`docker.io` also matches Docker Hub's legacy key). */
export function credentialsFor(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | null {
  let auths: Record<string, { auth?: string; username?: string; password?: string }>;
  try {
    auths = (JSON.parse(readFileSync(authFile(env), 'utf8')) as { auths?: typeof auths }).auths ?? {};
  } catch {
    return null;
  }
  const keys =
    registry === 'docker.io'
      ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io']
      : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  for (const k of keys) {
    const e = auths[k];
    if (!e) continue;
    if (e.auth) {
      const text = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = text.indexOf(':');
      if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
    }
    if (e.username && e.password) return { username: e.username, password: e.password };
  }
  return null;
}

/** The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` header. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let r = re.exec(m[2]!); r; r = re.exec(m[2]!))
    params[r[1]!.toLowerCase()] = r[2] !== undefined ? r[2].replace(/\\(.)/g, '$1') : r[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}
