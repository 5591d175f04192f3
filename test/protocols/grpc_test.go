package protocols_test

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestGRPC runs a real gRPC server (the standard health service: a unary
// call and a server stream, over HTTP/2 without TLS) behind fwd and a real
// gRPC client in front of it.
func TestGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	status := health.NewServer()
	status.SetServingStatus("fwd.test", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, status)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	fw := fwdTo(t, "grpc", port{"grpc", 50051, catalog.HTTP2, ln.Addr().String()})["grpc"]
	conn, err := grpc.NewClient(fw.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx := testCtx(t, 20*time.Second)

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "fwd.test"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("unary Check through fwd: %v, %v", resp.GetStatus(), err)
	}

	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "fwd.test"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first streamed status: %v, %v", first.GetStatus(), err)
	}
	// A change on the server travels down the open stream.
	status.SetServingStatus("fwd.test", healthpb.HealthCheckResponse_NOT_SERVING)
	next, err := watch.Recv()
	if err != nil || next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("streamed change: %v, %v", next.GetStatus(), err)
	}
}
