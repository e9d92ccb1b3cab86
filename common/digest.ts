/** A content digest tote accepts: `sha256:` followed by 64 lowercase hex characters. */
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True when `s` is a valid sha256 digest. Checked before a digest touches any store or API. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}
