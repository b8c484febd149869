// Who owns an image's files in a root caller's store, and how a root caller's sandbox maps them.
//
// A layer's files belong to the archive's ids (root, mostly). Kept as host ids, they would be host
// root's files, which no sandbox maps (a sandbox never runs as host root), so root inside an image
// could not change its own files even on a writable root. So, as root, the store shifts every owner
// into one range of 65536 host ids that no host user holds, and a root caller's sandbox running an
// image maps ids 0-65535 inside onto that range: the image's root is root inside, and is host id
// FOREIGN_ID_BASE outside, which owns nothing but image files. This is what podman does with
// --userns=auto (a range per container, files owned by it); the range is systemd's "foreign UID
// range", reserved for files of OS images owned by a user namespace (systemd.io/UIDS-GIDS).
// Rootless stores need none of this: every file is the caller's, the id inside (docs/images.md).

/** systemd's foreign UID range: 0x7FFE0000-0x7FFEFFFF (systemd.io/UIDS-GIDS, "Foreign UIDs"). */
export const FOREIGN_ID_BASE = 0x7ffe0000;
/** Ids 0 to FOREIGN_ID_COUNT - 1 inside an image are mapped, as in a container. */
export const FOREIGN_ID_COUNT = 65536;
/** Where an archive id beyond the range goes: nobody of the range. */
const OVERFLOW_ID = 65534;

/** The host id a root caller's store gives a file the archive says is owned by `id`. */
export function storedOwner(id: number): number {
  return FOREIGN_ID_BASE + (id >= 0 && id < FOREIGN_ID_COUNT ? id : OVERFLOW_ID);
}

/**
 * The map lines ("inside outside count") of a root caller's sandbox running an image: 0-65535 onto
 * the foreign range; with `host` (the caller chose the host identity, `user`), the command's id
 * `inside` is that host id instead and the others stay where they are.
 */
export function imageIdMap(inside: number, host: number | null): string {
  if (host === null) return `0 ${FOREIGN_ID_BASE} ${FOREIGN_ID_COUNT}\n`;
  let out = '';
  if (inside > 0) out += `0 ${FOREIGN_ID_BASE} ${inside}\n`;
  out += `${inside} ${host} 1\n`;
  const above = FOREIGN_ID_COUNT - inside - 1;
  if (above > 0) out += `${inside + 1} ${FOREIGN_ID_BASE + inside + 1} ${above}\n`;
  return out;
}
