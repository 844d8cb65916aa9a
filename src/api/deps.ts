import type { BackendInfo } from "../compute/backend-choice.js";
import type { SessionManager } from "../sessions/session-manager.js";
import type { TrainingJobs } from "../training/jobs.js";
import type { AdapterDeps } from "./grpc-adapters.js";
import type { TensorLimits } from "./tensor-codec.js";

/** What the handlers need from the rest of the server. */
export interface HandlerDeps extends AdapterDeps {
  sessions: SessionManager;
  jobs: TrainingJobs;
  backend: BackendInfo;
  limits: TensorLimits;
  version: string;
  /** Root of the server-side data files that requests may name. */
  dataDir: string;
  /** Root of the TensorFlow and Keras artifacts that Restore may name. */
  artifactDir: string;
}
