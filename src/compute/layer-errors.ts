// What a model's own layers refuse. A Keras JSON topology can assemble layers that build but do not
// fit the data they are given; TensorFlow.js finds out only when it computes. The request was already
// checked against the model's signature, so such a refusal is about this model and this data: the
// caller's to fix (INVALID_ARGUMENT), said as TensorFlow said it, rather than an internal error.
import { Code, reasonOf, thrownAs } from "../errors.js";

/** TensorFlow's C API status prefix adds nothing for a reader. */
const TF_STATUS_PREFIX = /^Invalid TF_Status: \d+\s*Message:\s*/;

/** Runs `compute`; what its layers throw becomes INVALID_ARGUMENT "`what`: reason". */
export function refusedByLayers<T>(what: string, compute: () => T): T {
  try {
    return compute();
  } catch (err) {
    throw thrownAs(Code.INVALID_ARGUMENT, what, err, reasonOf(err).replace(TF_STATUS_PREFIX, ""));
  }
}
