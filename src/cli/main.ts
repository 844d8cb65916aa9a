// The `modelbay` command line: serve, and client commands against a running server.
import { connect } from "./client.js";
import { serve } from "./serve.js";

const USAGE = `Usage: modelbay <command> [options]

Commands:
  serve            run the gRPC server (modelbay serve --help lists its options)
  health           check a server's health          [--server host:port]
  info             show a server's backend and devices [--server host:port]
`;

function serverAddress(args: string[]): string {
  const i = args.indexOf("--server");
  return (i >= 0 ? args[i + 1] : undefined) ?? process.env.MODELBAY_SERVER ?? "127.0.0.1:50051";
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case "serve":
      return serve(args);
    case "health": {
      const client = connect(serverAddress(args));
      try {
        const status = await client.health();
        process.stdout.write(`${status}\n`);
        return status === "SERVING" ? 0 : 1;
      } finally {
        client.close();
      }
    }
    case "info": {
      const client = connect(serverAddress(args));
      try {
        process.stdout.write(`${JSON.stringify(await client.getServerInfo({}), null, 2)}\n`);
        return 0;
      } finally {
        client.close();
      }
    }
    case undefined:
    case "--help":
    case "help":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`modelbay: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { details?: string; message?: string };
    process.stderr.write(`modelbay: ${e.details ?? e.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
