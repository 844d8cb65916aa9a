// The `modelbay` command line: serve, and client commands against a running server or, offline,
// a checkpoint directory. Exit codes: 0 success, 1 check failed or call failed, 2 usage error.
import * as grpc from "@grpc/grpc-js";
import { UsageError } from "./args.js";
import { checkpointCommand, goldensMake, restoreVerify } from "./checkpoint-commands.js";
import { connect, defaultServerAddress } from "./client.js";
import { exportCommand } from "./export-command.js";
import { modelCommand, restoreCommand } from "./model-commands.js";
import { predictCommand } from "./predict-command.js";
import { serve } from "./serve.js";
import { trainCommand, watchCommand } from "./train-commands.js";

const USAGE = `Usage: modelbay <command> [options]

Commands:
  serve                         run the gRPC server (modelbay serve --help lists its options)
  health                        check a server's health               [--server host:port]
  info                          show a server's backend and devices   [--server host:port]
  train                         train with a live progress line; --detach prints the job id
                                --model M --x x.npy --y y.npy [--epochs N] [--batch-size B] [--seed S]
                                [--validation-split F] [--checkpoint-every N] [--no-shuffle]
  model create|ls|show|rm       open, list, describe or delete models on a server
                                create: --model M (--spec spec.json | --keras-json model.json [--spec rest.json]
                                | --example classic|custom-block); rm: [--delete-checkpoints]; --json
  predict                       predict rows, streamed in order; prints JSON, or writes the output to --out
                                --model M (--inputs x.npy | --data-path FILE) [--out y.npy] [--chunk-rows N]
  restore                       open a model on a server from a checkpoint or an artifact
                                (--model M [--checkpoint ID|latest] | --artifact PATH) [--as ID] [--resume]
                                weights-only artifacts also take the model: --spec, --keras-json or --example
  watch JOB                     replay and follow a training job [--from-seq N]
  checkpoint create|ls|show|rm  manage checkpoints  --model M [--checkpoint ID] [--force] [--json]
  goldens make                  record a checkpoint's predictions as goldens
                                --model M --inputs x.npy --out goldens.json [--checkpoint ID|latest]
  export                        a checkpoint as a Keras 3 .keras file (or --format tfjs: model.json + weights.bin)
                                --store DIR --model M --out FILE [--checkpoint ID|latest] [--format keras|tfjs]
  restore --verify              prove a checkpoint restores and predicts its goldens; exit 0 or 1
                                --goldens goldens.json [--model M] [--checkpoint ID|latest] [--atol A] [--rtol R]

Checkpoint commands act on a running server (--server host:port, default $MODELBAY_SERVER, else
the port of $MODELBAY_ADDRESS on 127.0.0.1, else 127.0.0.1:50051) or offline on a checkpoint directory (--store DIR).
`;

function serverAddress(args: string[]): string {
  const i = args.indexOf("--server");
  return (i >= 0 ? args[i + 1] : undefined) ?? defaultServerAddress();
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case "serve":
      return serve(args);
    case "health": {
      const client = connect(serverAddress(args));
      try {
        const status = await client.health("", { deadline: Date.now() + 5000 });
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
    case "train":
      return trainCommand(args);
    case "watch":
      return watchCommand(args);
    case "checkpoint":
      return checkpointCommand(args);
    case "goldens":
      if (args[0] !== "make") throw new UsageError(`goldens: unknown action "${args[0] ?? ""}" (make)`);
      return goldensMake(args.slice(1));
    case "model":
      return modelCommand(args);
    case "predict":
      return predictCommand(args);
    case "restore":
      return args.includes("--verify") ? restoreVerify(args) : restoreCommand(args);
    case "export":
      return exportCommand(args);
    case undefined:
    case "--help":
    case "help":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** A failed call in words: grpc-js' text for an unreachable server is about its channel, not the user's next step. */
function describeFailure(err: unknown): string {
  const e = err as { code?: unknown; details?: string; message?: string };
  const details = e.details ?? e.message ?? String(err);
  const unreachable = /^No connection established\. Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(
    details,
  );
  if (e.code === grpc.status.UNAVAILABLE && unreachable)
    return `no modelbay server answers (${unreachable[1]}); start one with \`modelbay serve\`, or name it with --server host:port or $MODELBAY_SERVER`;
  return details;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    const parseError = err instanceof Error && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
    if (err instanceof UsageError || parseError) {
      process.stderr.write(`modelbay: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`modelbay: ${describeFailure(err)}\n`);
    process.exitCode = 1;
  },
);
