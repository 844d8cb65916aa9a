// JSON read from files and requests arrives untyped; this is the one test for "an object with keys".

/** A JSON object (not null, not an array). */
export const isJsonObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
