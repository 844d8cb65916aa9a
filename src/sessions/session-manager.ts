// Holds the model sessions of the server: each a built model, its spec and its metadata.
import type { ComputeEngine, ComputeModel } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { Code, ModelbayError, notFound } from "../errors.js";
import { matchInputs, type NamedTensor } from "./input-check.js";
import { checkModelId, newModelId } from "./model-id.js";

export interface Session {
  readonly id: string;
  readonly spec: ModelSpec;
  readonly model: ComputeModel;
  readonly createTime: Date;
  readonly device: string;
  lastUsed: number;
}

export interface SessionLimits {
  maxSessions: number;
}

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  // Ids being built, so that two concurrent CreateModel calls cannot both take one id.
  private readonly reserved = new Set<string>();

  constructor(
    readonly engine: ComputeEngine,
    private readonly limits: SessionLimits,
  ) {}

  async create(requestedId: string, spec: ModelSpec): Promise<Session> {
    const id = requestedId === "" ? newModelId() : checkModelId(requestedId);
    if (this.sessions.has(id) || this.reserved.has(id)) {
      throw new ModelbayError(Code.ALREADY_EXISTS, `model "${id}" already exists`);
    }
    if (this.sessions.size + this.reserved.size >= this.limits.maxSessions) {
      throw new ModelbayError(
        Code.RESOURCE_EXHAUSTED,
        `the server holds its maximum of ${this.limits.maxSessions} models; delete one first`,
      );
    }
    this.reserved.add(id);
    try {
      const model = await this.engine.buildModel(spec);
      const session: Session = { id, spec, model, createTime: new Date(), device: "cpu:0", lastUsed: Date.now() };
      this.sessions.set(id, session);
      return session;
    } finally {
      this.reserved.delete(id);
    }
  }

  get(id: string): Session {
    const session = this.sessions.get(checkModelId(id));
    if (!session) throw notFound(`model "${id}"`);
    session.lastUsed = Date.now();
    return session;
  }

  list(): Session[] {
    return [...this.sessions.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  delete(id: string): void {
    const session = this.get(id);
    this.sessions.delete(id);
    session.model.dispose();
  }

  async predict(id: string, inputs: readonly NamedTensor[]): Promise<NamedTensor[]> {
    const session = this.get(id);
    const { inputs: signatures, outputs } = session.model.description;
    const [input] = matchInputs(signatures, inputs);
    if (!input) throw new ModelbayError(Code.INTERNAL, "model has no input");
    const output = await session.model.predict(input);
    return [{ name: outputs[0]?.name ?? "output", tensor: output }];
  }

  closeAll(): void {
    for (const session of this.sessions.values()) session.model.dispose();
    this.sessions.clear();
  }
}
