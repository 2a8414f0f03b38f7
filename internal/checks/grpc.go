package checks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// GRPCProbe calls the standard gRPC health service,
// grpc.health.v1.Health/Check, on addr without TLS, asking about service
// ("" for the server as a whole), and passes when the answer is SERVING.
// Each call dials afresh (a Monitor keeps its connection: grpcConn). The
// error says the status answered, or the call's failure.
func GRPCProbe(ctx context.Context, addr, service string) error {
	conn, err := dialGRPC(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", grpcWhat(addr, service), err)
	}
	defer conn.Close()
	return grpcCheck(ctx, conn, addr, service)
}

func dialGRPC(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func grpcWhat(addr, service string) string {
	return "grpc health check of " + strconv.Quote(service) + " on " + addr
}

func grpcCheck(ctx context.Context, conn *grpc.ClientConn, addr, service string) error {
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		st := status.Convert(err)
		return fmt.Errorf("%s: %s: %s", grpcWhat(addr, service), st.Code(), st.Message())
	}
	if s := res.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s: %s", grpcWhat(addr, service), s)
	}
	return nil
}

// grpcConn is a watched address's gRPC connection, kept from one probe
// to the next as the HTTP client keeps its connection. A probe that
// fails drops it, so the next one dials afresh rather than wait out
// gRPC's reconnection back-off (up to 2 minutes) for an instance that
// restarted.
type grpcConn struct {
	mu     sync.Mutex
	conn   *grpc.ClientConn // nil: none yet, or dropped
	closed bool             // the address is no longer watched
}

// probe runs one health check on the kept connection.
func (g *grpcConn) probe(ctx context.Context, addr, service string) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return fmt.Errorf("%s: %w", grpcWhat(addr, service), context.Canceled)
	}
	if g.conn == nil {
		conn, err := dialGRPC(addr)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("%s: %w", grpcWhat(addr, service), err)
		}
		g.conn = conn
	}
	conn := g.conn
	g.mu.Unlock()
	err := grpcCheck(ctx, conn, addr, service)
	if err != nil {
		g.drop(conn)
	}
	return err
}

// drop closes conn if it is still the kept one.
func (g *grpcConn) drop(conn *grpc.ClientConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn == conn {
		g.conn.Close()
		g.conn = nil
	}
}

// close closes the connection for good.
func (g *grpcConn) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.conn != nil {
		g.conn.Close()
		g.conn = nil
	}
}

// HTTP2Client returns a copy of client (http.DefaultClient if nil) that
// speaks HTTP/2 without TLS by prior knowledge, for instances of an h2c
// service, which may not speak HTTP/1.1. A client whose transport is not
// an *http.Transport is returned as is.
func HTTP2Client(client *http.Client) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	base, ok := client.Transport.(*http.Transport)
	if client.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return client
	}
	t := base.Clone()
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	c := *client
	c.Transport = t
	return &c
}
