"""Python client for modelbay: train, checkpoint, restore and serve TensorFlow models over gRPC.

The protobuf and gRPC modules under modelbay/v1 are generated from proto/ by scripts/clients.sh
(grpcio-tools) and never edited.
"""

from modelbay.client import Client, ModelbayError, TrainEvent
from modelbay.specs import classic_dense_spec, custom_block_spec, keras_spec
from modelbay.tensors import from_tensor, to_tensor

__all__ = [
    "Client",
    "ModelbayError",
    "TrainEvent",
    "classic_dense_spec",
    "custom_block_spec",
    "keras_spec",
    "from_tensor",
    "to_tensor",
]
