// `modelbay serve`: runs the server until SIGTERM or SIGINT, then shuts down gracefully.
import { serverHelp, serverOptionsFrom } from "../config.js";
import { createLogger } from "../log.js";
import { startServer } from "../server.js";

export async function serve(args: string[]): Promise<number> {
  let options: ReturnType<typeof serverOptionsFrom>;
  try {
    options = serverOptionsFrom(args, process.env);
  } catch (err) {
    process.stderr.write(`modelbay serve: ${err instanceof Error ? err.message : String(err)}\n\n${serverHelp()}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(serverHelp());
    return 0;
  }
  const log = createLogger();
  const server = await startServer({ ...options, log });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info("shutting down", { signal });
      server.shutdown().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
