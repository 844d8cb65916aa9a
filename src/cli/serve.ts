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
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ ...options, log });
  } catch (err) {
    // Settings only the start can check (files, directories, ports) fail like bad flags do.
    process.stderr.write(`modelbay serve: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
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
