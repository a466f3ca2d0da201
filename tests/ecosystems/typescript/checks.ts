// What both scenarios check with: a result, or a condition that holds;
// anything else throws and the process exits non-zero.

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** openapi-fetch answers `{ data }` or `{ error }`; a problem ends the run. */
export function expect<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}
