"""tritonclient[grpc] against modelbay's KServe v2 adapter (test/kserve.test.ts).

    python triton_client.py ADDRESS MODEL DIR
    python triton_client.py ADDRESS MODEL DIR several


DIR holds x.npy (inputs) and expected.npy (what modelbay's own Predict returned). Checks liveness,
readiness, server and model metadata, ModelInfer with raw_input_contents (tritonclient's binary
tensors) and with typed contents, and the errors of a wrong datatype, an unknown model and an
unknown output. With "several": a model of two inputs and two outputs (DIR holds one NAME.npy per
input and expected_NAME.npy per output): metadata, ModelInfer of both outputs and of one asked for,
and a missing input. Prints one line per check; exits non-zero at the first failure.
"""
import os
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def check(ok, what):
    if not ok:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def expect_error(call, status, what):
    try:
        call()
    except InferenceServerException as err:
        check(err.status() == status, f"{what} -> {err.status()} ({err.message()})")
        return
    raise SystemExit(f"FAIL: {what} succeeded")


def main():
    address, model, data = sys.argv[1], sys.argv[2], sys.argv[3]
    x = np.load(os.path.join(data, "x.npy"))
    expected = np.load(os.path.join(data, "expected.npy"))
    client = grpcclient.InferenceServerClient(url=address)
    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    check(client.get_server_metadata().name == "modelbay", "server metadata names modelbay")
    check(client.is_model_ready(model), f"model {model} ready")
    check(not client.is_model_ready("no-such-model"), "unknown model not ready")
    meta = client.get_model_metadata(model)
    check([i.datatype for i in meta.inputs] == ["FP32"] and list(meta.inputs[0].shape) == [-1, 10], f"model metadata inputs {meta.inputs[0].name} FP32 [-1, 10]")
    output_name = meta.outputs[0].name

    # Binary (raw_input_contents), tritonclient's default for numpy data.
    inp = grpcclient.InferInput(meta.inputs[0].name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(model, [inp], outputs=[grpcclient.InferRequestedOutput(output_name)])
    got = result.as_numpy(output_name)
    check(got.shape == expected.shape and np.allclose(got, expected, rtol=0, atol=0), f"ModelInfer raw contents {got.shape} equals Predict")

    # Typed contents (InferTensorContents.fp32_contents) instead of raw bytes.
    request = grpcclient.service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name=meta.inputs[0].name, datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.ravel().tolist())
    response = client._client_stub.ModelInfer(request)
    typed = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(tuple(response.outputs[0].shape))
    check(np.allclose(typed, expected, rtol=0, atol=0), "ModelInfer typed contents equals Predict")

    bad = grpcclient.InferInput(meta.inputs[0].name, list(x.shape), "FP16")
    bad.set_data_from_numpy(x.astype(np.float16))
    expect_error(lambda: client.infer(model, [bad]), "StatusCode.INVALID_ARGUMENT", "FP16 input")
    expect_error(lambda: client.infer("no-such-model", [inp]), "StatusCode.NOT_FOUND", "unknown model")
    expect_error(
        lambda: client.infer(model, [inp], outputs=[grpcclient.InferRequestedOutput("nope")]),
        "StatusCode.INVALID_ARGUMENT",
        "unknown output",
    )
    wrong = grpcclient.InferInput(meta.inputs[0].name, [x.shape[0], 9], "FP32")
    wrong.set_data_from_numpy(x[:, :9].copy())
    expect_error(lambda: client.infer(model, [wrong]), "StatusCode.INVALID_ARGUMENT", "wrong shape")
    check(client.is_server_live(), "server still live")
    print("kserve interop passed")


def several():
    address, model, data = sys.argv[1], sys.argv[2], sys.argv[3]
    client = grpcclient.InferenceServerClient(url=address)
    meta = client.get_model_metadata(model)
    inputs, outputs = [i.name for i in meta.inputs], [o.name for o in meta.outputs]
    check(len(inputs) == 2 and len(outputs) == 2, f"model metadata lists inputs {inputs} and outputs {outputs}")
    tensors = []
    for name in inputs:
        x = np.load(os.path.join(data, f"{name}.npy"))
        tensor = grpcclient.InferInput(name, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        tensors.append(tensor)
    expected = {name: np.load(os.path.join(data, f"expected_{name}.npy")) for name in outputs}
    result = client.infer(model, tensors[::-1])
    for name in outputs:
        got = result.as_numpy(name)
        check(got is not None and np.allclose(got, expected[name], rtol=0, atol=0), f"ModelInfer output {name} equals Predict")
    last = outputs[-1]
    only = client.infer(model, tensors, outputs=[grpcclient.InferRequestedOutput(last)])
    check(only.as_numpy(outputs[0]) is None and np.allclose(only.as_numpy(last), expected[last]), f"only output {last} when asked for")
    expect_error(lambda: client.infer(model, tensors[:1]), "StatusCode.INVALID_ARGUMENT", "one input of two")
    print("kserve several tensors passed")


if __name__ == "__main__":
    several() if sys.argv[4:] == ["several"] else main()
