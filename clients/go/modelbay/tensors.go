// Package modelbay holds small helpers over the generated modelbay.v1 client (package gen/modelbay/v1):
// dialing, and float32 tensors to and from the wire's raw little-endian contents.
package modelbay

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	modelbayv1 "github.com/modelbay/modelbay/clients/go/gen/modelbay/v1"
)

// Dial connects to a modelbay server without TLS (loopback and trusted networks).
func Dial(address string) (modelbayv1.ModelServiceClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(512<<20), grpc.MaxCallSendMsgSize(512<<20)))
	if err != nil {
		return nil, nil, err
	}
	return modelbayv1.NewModelServiceClient(conn), conn, nil
}

// Float32Tensor packs row-major values of the given shape as raw little-endian contents.
func Float32Tensor(values []float32, shape ...int64) *modelbayv1.Tensor {
	raw := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &modelbayv1.Tensor{Dtype: modelbayv1.DataType_DATA_TYPE_FLOAT32, Shape: shape, RawContents: raw}
}

// Float32s unpacks a float32 tensor sent as raw contents or as typed values.
func Float32s(t *modelbayv1.Tensor) ([]float32, error) {
	if t.GetDtype() != modelbayv1.DataType_DATA_TYPE_FLOAT32 {
		return nil, fmt.Errorf("tensor %q is %v, not float32", t.GetName(), t.GetDtype())
	}
	if raw := t.GetRawContents(); len(raw) > 0 {
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("tensor %q: %d raw bytes is not a whole number of float32s", t.GetName(), len(raw))
		}
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	return t.GetFloatValues(), nil
}
