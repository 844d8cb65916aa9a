"""A thin, idiomatic wrapper over the generated ModelService stub: numpy in, numpy out, a
generator over PredictStream and an iterator over Train events. Every method maps to one RPC;
`client.stub` is there for everything else."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional

import grpc
import numpy as np

from modelbay.tensors import from_tensor, to_tensor
from modelbay.v1 import checkpoint_pb2, model_pb2, model_service_pb2, model_service_pb2_grpc, training_pb2


class ModelbayError(Exception):
    """A call that failed: the gRPC status code and the server's message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


@dataclasses.dataclass
class TrainEvent:
    """One event of a training job. `kind` is started, progress, epoch_end, checkpoint_saved,
    early_stopped, completed or failed; `data` is that event's message."""

    seq: int
    job_id: str
    kind: str
    data: object


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except grpc.RpcError as err:  # grpc.Call and RpcError both, for unary calls
        raise ModelbayError(err.code(), err.details()) from None


def _stream(iterator):
    try:
        yield from iterator
    except grpc.RpcError as err:
        raise ModelbayError(err.code(), err.details()) from None


class Client:
    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        timeout: Optional[float] = None,
        *,
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
    ):
        """`root_certificates` (PEM of the server's CA) connects with TLS; `private_key` and
        `certificate_chain` add a client certificate for mutual TLS; `token` is sent as a bearer
        token with every call."""
        # Large batches travel in one message; the server's own limit still applies.
        options = [("grpc.max_receive_message_length", 512 << 20), ("grpc.max_send_message_length", 512 << 20)]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        if token:
            self.channel = grpc.intercept_channel(self.channel, _BearerToken(token))
        self.stub = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.timeout = timeout

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def server_info(self) -> model_service_pb2.GetServerInfoResponse:
        return _call(self.stub.GetServerInfo, model_service_pb2.GetServerInfoRequest(), timeout=self.timeout)

    # Models

    def create_model(self, model_id: str, spec: model_pb2.ModelSpec) -> model_pb2.ModelInfo:
        req = model_service_pb2.CreateModelRequest(model_id=model_id, spec=spec)
        return _call(self.stub.CreateModel, req, timeout=self.timeout).model

    def get_model(self, model_id: str) -> model_pb2.ModelInfo:
        return _call(self.stub.GetModel, model_service_pb2.GetModelRequest(model_id=model_id), timeout=self.timeout).model

    def delete_model(self, model_id: str, delete_checkpoints: bool = False) -> None:
        req = model_service_pb2.DeleteModelRequest(model_id=model_id, delete_checkpoints=delete_checkpoints)
        _call(self.stub.DeleteModel, req, timeout=self.timeout)

    # Predict

    def predict(self, model_id: str, x, input_name: str = "") -> np.ndarray:
        """Runs the model on a batch; returns its (single) output as a numpy array."""
        req = model_service_pb2.PredictRequest(model_id=model_id, inputs=[to_tensor(x, input_name)], raw_output=True)
        return from_tensor(_call(self.stub.Predict, req, timeout=self.timeout).outputs[0])

    def predict_stream(
        self, model_id: str, x=None, *, data_path: str = "", chunk_rows: int = 0, start_offset: int = 0
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yields (row offset, output chunk) in order for rows sent inline or a server-side file."""
        req = model_service_pb2.PredictStreamRequest(
            model_id=model_id, chunk_rows=chunk_rows, start_offset=start_offset, raw_output=True
        )
        if data_path:
            req.data_path = data_path
        else:
            req.rows.CopyFrom(to_tensor(x))
        for chunk in _stream(self.stub.PredictStream(req, timeout=self.timeout)):
            yield chunk.offset, from_tensor(chunk.outputs[0])

    # Train

    def train(
        self,
        model_id: str,
        x=None,
        y=None,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        validation_split: float = 0.0,
        validation_data: Optional[tuple] = None,
        checkpoint_every_epochs: int = 0,
        data_file: Optional[training_pb2.FileData] = None,
        progress_interval_ms: int = 0,
        detach: bool = False,
    ) -> Iterator[TrainEvent]:
        """Starts a training job and yields its events until its `completed` or `failed` event
        (fit() raises on failure). Closing the iterator early cancels the job unless detached."""
        data = (
            training_pb2.DataSource(file=data_file)
            if data_file is not None
            else training_pb2.DataSource(inline=training_pb2.InlineData(x=to_tensor(x), y=to_tensor(y)))
        )
        req = training_pb2.TrainRequest(
            model_id=model_id,
            data=data,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            validation_split=validation_split,
            progress_interval_ms=progress_interval_ms,
            detach=detach,
            checkpoint_policy=training_pb2.CheckpointPolicy(every_epochs=checkpoint_every_epochs),
        )
        if validation_data is not None:
            vx, vy = validation_data
            req.validation_data.CopyFrom(
                training_pb2.DataSource(inline=training_pb2.InlineData(x=to_tensor(vx), y=to_tensor(vy)))
            )
        for response in _stream(self.stub.Train(req)):
            yield _event(response.event)

    def fit(self, model_id: str, x, y, **kwargs) -> list[TrainEvent]:
        """Trains to completion and returns every event (Keras-style convenience over train())."""
        events = list(self.train(model_id, x, y, **kwargs))
        failed = [e for e in events if e.kind == "failed"]
        if failed:
            raise ModelbayError(_status_code(failed[0].data.code), failed[0].data.message)
        return events

    # Checkpoints

    def checkpoint(self, model_id: str) -> checkpoint_pb2.CheckpointInfo:
        req = model_service_pb2.CheckpointRequest(model_id=model_id)
        return _call(self.stub.Checkpoint, req, timeout=self.timeout).checkpoint

    def list_checkpoints(self, model_id: str) -> list[checkpoint_pb2.CheckpointInfo]:
        req = model_service_pb2.ListCheckpointsRequest(model_id=model_id)
        return list(_call(self.stub.ListCheckpoints, req, timeout=self.timeout).checkpoints)

    def restore(
        self,
        model_id: str = "",
        checkpoint_id: str = "latest",
        *,
        artifact_path: str = "",
        target_model_id: str = "",
        resume: bool = False,
        spec: Optional[model_pb2.ModelSpec] = None,
        goldens: Optional[tuple] = None,
        atol: float = 1e-6,
        rtol: float = 1e-6,
    ) -> model_service_pb2.RestoreResponse:
        """Restores a checkpoint (by id or "latest") or an artifact saved by TensorFlow/Keras.
        `goldens=(x, expected)` asks the server to verify the restored model's predictions."""
        req = model_service_pb2.RestoreRequest(target_model_id=target_model_id, resume=resume)
        if artifact_path:
            req.artifact_path = artifact_path
        else:
            req.checkpoint.CopyFrom(model_service_pb2.CheckpointRef(model_id=model_id, checkpoint_id=checkpoint_id))
        if spec is not None:
            req.spec.CopyFrom(spec)
        if goldens is not None:
            gx, gy = goldens
            req.goldens.CopyFrom(
                checkpoint_pb2.Goldens(inputs=[to_tensor(gx)], expected_outputs=[to_tensor(gy)], atol=atol, rtol=rtol)
            )
        return _call(self.stub.Restore, req, timeout=self.timeout)


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call (also over plaintext loopback)."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = list(details.metadata or []) + [self._header]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, details, metadata):
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


def _status_code(code: int) -> grpc.StatusCode:
    return next((s for s in grpc.StatusCode if s.value[0] == code), grpc.StatusCode.UNKNOWN)


def _event(e: training_pb2.TrainEvent) -> TrainEvent:
    kind = e.WhichOneof("event") or ""
    return TrainEvent(seq=e.seq, job_id=e.job_id, kind=kind, data=getattr(e, kind) if kind else None)
