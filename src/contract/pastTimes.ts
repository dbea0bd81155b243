/**
 * A moment in the past as a request may name it: an RFC 3339 time, or a duration back from
 * the moment the request arrives (`90s`, `10m`, `1h`, `7d`). One rule for the CLI's flags and
 * for every face's `asOf`, `since` and `until`, so that `--as-of 1h` and `?asOf=1h` agree.
 */
export const AGO_PATTERN = "^[0-9]{1,9}[smhd]$";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `raw` as an RFC 3339 time when it is a duration back from `now` (past 1970: 1970, before any event); any other string as it is. */
export function timeOf(raw: string, now = Date.now()): string {
  const ago = /^([0-9]{1,9})([smhd])$/.exec(raw);
  return ago ? new Date(Math.max(0, now - Number(ago[1]) * UNIT_MS[ago[2]!]!)).toISOString() : raw;
}
