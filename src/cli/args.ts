import { parseArgs } from "node:util";

/** Parses `--name value` options; throws a usage error naming an unknown or missing one. */
export function options<K extends string>(args: string[], strings: readonly K[], booleans: readonly string[] = []) {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...Object.fromEntries(strings.map((k) => [k, { type: "string" as const }])),
      ...Object.fromEntries(booleans.map((k) => [k, { type: "boolean" as const }])),
    },
  });
  const get = (k: K) => (values as Record<string, string | undefined>)[k];
  return {
    get,
    flag: (k: string) => (values as Record<string, boolean | undefined>)[k] === true,
    require(k: K): string {
      const v = get(k);
      if (v === undefined || v === "") throw new UsageError(`--${k} is required`);
      return v;
    },
    positionals,
  };
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}
