// Example: create the classic model (Dense(128, relu, input 10) -> Dense(1), adam/mse) on a modelbay
// server, predict a 10x10 batch with Predict, then stream 20,000 rows back with PredictStream and
// check that the chunks arrive in order and agree with Predict. Exits 1 with the reason otherwise.
//
//	go run ./cmd/example -server 127.0.0.1:50051
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"google.golang.org/grpc/status"

	modelbayv1 "github.com/modelbay/modelbay/clients/go/gen/modelbay/v1"
	"github.com/modelbay/modelbay/clients/go/modelbay"
)

const (
	rows      = 20_000
	chunkRows = 2_500
)

func classicSpec() *modelbayv1.ModelSpec {
	dense := func(units int32, act modelbayv1.Activation) *modelbayv1.LayerSpec {
		return &modelbayv1.LayerSpec{Kind: &modelbayv1.LayerSpec_Dense{Dense: &modelbayv1.DenseLayer{Units: units, Activation: act}}}
	}
	seed := uint32(42)
	return &modelbayv1.ModelSpec{
		Topology: &modelbayv1.ModelSpec_Sequential{Sequential: &modelbayv1.SequentialTopology{
			InputShape: []int64{10},
			Layers:     []*modelbayv1.LayerSpec{dense(128, modelbayv1.Activation_ACTIVATION_RELU), dense(1, modelbayv1.Activation_ACTIVATION_UNSPECIFIED)},
		}},
		Compile: &modelbayv1.CompileSpec{
			Optimizer: &modelbayv1.OptimizerSpec{Kind: modelbayv1.OptimizerKind_OPTIMIZER_KIND_ADAM},
			Loss:      modelbayv1.Loss_LOSS_MEAN_SQUARED_ERROR,
		},
		Seed: &seed,
	}
}

// values returns deterministic inputs in [-1, 1).
func values(n int) []float32 {
	out := make([]float32, n)
	state := uint32(12345)
	for i := range out {
		state = state*1664525 + 1013904223
		out[i] = float32(state>>8)/float32(1<<24)*2 - 1
	}
	return out
}

func run(server string) error {
	client, conn, err := modelbay.Dial(server)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	info, err := client.GetServerInfo(ctx, &modelbayv1.GetServerInfoRequest{})
	if err != nil {
		return err
	}
	fmt.Printf("server %s: modelbay %s, backend %s %s\n", server, info.GetVersion(), info.GetBackend(), info.GetTensorflowVersion())

	modelID := fmt.Sprintf("go-example-%d", time.Now().UnixNano()%1_000_000)
	if _, err := client.CreateModel(ctx, &modelbayv1.CreateModelRequest{ModelId: modelID, Spec: classicSpec()}); err != nil {
		return fmt.Errorf("CreateModel: %w", err)
	}

	x := values(rows * 10)
	batch, err := client.Predict(ctx, &modelbayv1.PredictRequest{
		ModelId: modelID, Inputs: []*modelbayv1.Tensor{modelbay.Float32Tensor(x[:100], 10, 10)}, RawOutput: true,
	})
	if err != nil {
		return fmt.Errorf("Predict: %w", err)
	}
	first, err := modelbay.Float32s(batch.GetOutputs()[0])
	if err != nil {
		return err
	}
	if shape := batch.GetOutputs()[0].GetShape(); len(shape) != 2 || shape[0] != 10 || shape[1] != 1 {
		return fmt.Errorf("Predict returned shape %v, want [10 1]", shape)
	}
	fmt.Printf("Predict 10x10 -> [10 1], first row %.6f\n", first[0])

	stream, err := client.PredictStream(ctx, &modelbayv1.PredictStreamRequest{
		ModelId:   modelID,
		Source:    &modelbayv1.PredictStreamRequest_Rows{Rows: modelbay.Float32Tensor(x, rows, 10)},
		ChunkRows: chunkRows,
		RawOutput: true,
	})
	if err != nil {
		return fmt.Errorf("PredictStream: %w", err)
	}
	var next uint64
	chunks := 0
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("PredictStream: %w", err)
		}
		if chunk.GetOffset() != next {
			return fmt.Errorf("chunk at offset %d, want %d: out of order", chunk.GetOffset(), next)
		}
		out, err := modelbay.Float32s(chunk.GetOutputs()[0])
		if err != nil {
			return err
		}
		// The first ten rows are the batch Predict already answered.
		if next == 0 {
			for i := range first {
				if d := math.Abs(float64(out[i] - first[i])); d > 1e-6+1e-5*math.Abs(float64(first[i])) {
					return fmt.Errorf("row %d: stream %.7f vs Predict %.7f", i, out[i], first[i])
				}
			}
		}
		next += uint64(len(out))
		chunks++
	}
	if next != rows {
		return fmt.Errorf("stream ended after %d rows, want %d", next, rows)
	}
	fmt.Printf("PredictStream %d rows -> %d ordered chunks, agreeing with Predict\n", rows, chunks)
	_, err = client.DeleteModel(ctx, &modelbayv1.DeleteModelRequest{ModelId: modelID})
	return err
}

func main() {
	server := flag.String("server", "127.0.0.1:50051", "modelbay server address")
	flag.Parse()
	if err := run(*server); err != nil {
		if s, ok := status.FromError(errors.Unwrap(err)); ok {
			fmt.Fprintf(os.Stderr, "FAIL: %v (%s)\n", err, s.Code())
		} else {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		}
		os.Exit(1)
	}
	fmt.Println("go example passed")
}
