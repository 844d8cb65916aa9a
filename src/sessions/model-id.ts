import { randomUUID } from "node:crypto";
import { invalidArgument } from "../errors.js";

// Ids become directory names in the checkpoint store, so they admit no path characters.
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkModelId(id: string, field = "model_id"): string {
  if (id === "") throw invalidArgument(field, "is required");
  if (!MODEL_ID.test(id) || id.includes("..")) {
    throw invalidArgument(
      field,
      `"${id.slice(0, 140)}" is not a valid id (letters, digits, '_', '-', '.', at most 128, no "..")`,
    );
  }
  return id;
}

export function newModelId(): string {
  return `model-${randomUUID().slice(0, 8)}`;
}
