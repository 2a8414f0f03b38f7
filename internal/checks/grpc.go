package checks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// GRPCProbe calls the standard gRPC health service,
// grpc.health.v1.Health/Check, on addr without TLS, asking about service
// ("" for the server as a whole), and passes when the answer is SERVING.
// Each probe dials afresh, as Probe does. The error says the status
// answered, or the call's failure.
func GRPCProbe(ctx context.Context, addr, service string) error {
	what := "grpc health check of " + strconv.Quote(service) + " on " + addr
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		st := status.Convert(err)
		return fmt.Errorf("%s: %s: %s", what, st.Code(), st.Message())
	}
	if s := res.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s: %s", what, s)
	}
	return nil
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
