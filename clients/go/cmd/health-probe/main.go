// health-probe checks a server's grpc.health.v1 service at a fixed interval over one channel and
// prints the latencies in milliseconds, sorted, as a JSON array: the checker that
// bench/health-under-load.ts runs beside its Node.js one, since the checkers a deployment runs
// (the kubelet's gRPC probe, grpc_health_probe) are Go programs, whose own CPU per check is a
// fraction of a Node.js process's.
//
//	go run ./cmd/health-probe -server 127.0.0.1:50051 -seconds 8 -interval 20ms
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	server := flag.String("server", "127.0.0.1:50051", "host:port of the server")
	seconds := flag.Float64("seconds", 8, "how long to check")
	interval := flag.Duration("interval", 20*time.Millisecond, "pause between checks")
	flag.Parse()
	if err := run(*server, time.Duration(*seconds*float64(time.Second)), *interval); err != nil {
		fmt.Fprintln(os.Stderr, "health-probe:", err)
		os.Exit(1)
	}
}

func run(server string, length, interval time.Duration) error {
	conn, err := grpc.NewClient(server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	check := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		started := time.Now()
		reply, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && reply.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("status %v", reply.GetStatus())
		}
		return time.Since(started), err
	}
	// The first calls connect and warm both sides up; they are not checks of a running server.
	for range 5 {
		if _, err := check(); err != nil {
			return err
		}
	}
	latencies := []float64{}
	for until := time.Now().Add(length); time.Now().Before(until); time.Sleep(interval) {
		took, err := check()
		if err != nil {
			return err
		}
		latencies = append(latencies, float64(took.Microseconds())/1000)
	}
	sort.Float64s(latencies)
	return json.NewEncoder(os.Stdout).Encode(latencies)
}
