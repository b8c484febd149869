// The one multipart/form-data field `POST /file` takes (RFC 7578): the part named "file", its
// filename and its bytes. The body is already in memory (capped by the server).

export interface FormFile {
  filename: string;
  data: Buffer;
}

/** The boundary of a multipart/form-data content type, or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  if (contentType === undefined || !/^multipart\/form-data\b/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m === null ? null : (m[1] ?? m[2]!);
}

/** The part named `field`, or null when the body has none (or is not well formed). */
export function formFile(body: Buffer, boundary: string, field: string): FormFile | null {
  const delim = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') return null; // the closing delimiter
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0) return null;
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) return null;
    const headers = body.subarray(start, headerEnd).toString('utf8');
    const disposition = /content-disposition:\s*form-data(.*)/i.exec(headers)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (name === field) {
      const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] ?? '';
      return { filename, data: body.subarray(headerEnd + 4, next) };
    }
    at = next + 2;
  }
  return null;
}
