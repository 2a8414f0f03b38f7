package sampleapp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EchoService is the full name of the sample app's gRPC test service. Its
// messages are protobuf's well-known wrappers, so it needs no generated
// code:
//
//	rpc Say(google.protobuf.StringValue) returns (google.protobuf.StringValue)
//	rpc Tick(google.protobuf.Duration) returns (stream google.protobuf.StringValue)
const EchoService = "bluejay.sample.Echo"

// GRPCService is the sample app's gRPC test service. Say answers
// "version=V instance=N: MSG" with the trailer x-version: V, and echoes a
// request's x-echo metadata in the trailer x-echo; Tick streams
// "version=V instance=N tick=I" every interval until the client ends the
// call. Fault injection applies to every call as the app's does to GET /.
type GRPCService struct {
	// Version and Instance label the answers.
	Version  string
	Instance int
	// ErrorRate is the share (0 to 1) of calls that fail with ErrorCode,
	// after the first ErrorsAfter calls. Default 0.
	ErrorRate   float64
	ErrorsAfter int64
	// ErrorCode is the status of an injected failure. Zero (OK) means
	// UNAVAILABLE.
	ErrorCode codes.Code
	// Latency delays each call's answer. Default 0.
	Latency time.Duration

	calls atomic.Int64
}

// Register registers the service on s.
func (g *GRPCService) Register(s grpc.ServiceRegistrar) { s.RegisterService(&echoDesc, g) }

var echoDesc = grpc.ServiceDesc{
	ServiceName: EchoService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Say", Handler: sayHandler}},
	Streams:     []grpc.StreamDesc{{StreamName: "Tick", Handler: tickHandler, ServerStreams: true}},
}

func sayHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		return srv.(*GRPCService).say(ctx, req.(*wrapperspb.StringValue))
	}
	if interceptor == nil {
		return call(ctx, in)
	}
	return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + EchoService + "/Say"}, call)
}

func tickHandler(srv any, stream grpc.ServerStream) error {
	in := new(durationpb.Duration)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	return srv.(*GRPCService).tick(in.AsDuration(), stream)
}

// begin counts a call, waits out the latency and says whether the call
// fails.
func (g *GRPCService) begin(ctx context.Context) error {
	n := g.calls.Add(1)
	if g.Latency > 0 {
		t := time.NewTimer(g.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if n > g.ErrorsAfter && rand.Float64() < g.ErrorRate {
		code := g.ErrorCode
		if code == codes.OK {
			code = codes.Unavailable
		}
		return status.Errorf(code, "injected error (%s)", g.Version)
	}
	return nil
}

func (g *GRPCService) say(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	trailer := metadata.Pairs("x-version", g.Version)
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-echo")) > 0 {
		trailer.Set("x-echo", md.Get("x-echo")...)
	}
	_ = grpc.SetTrailer(ctx, trailer)
	if err := g.begin(ctx); err != nil {
		return nil, err
	}
	return wrapperspb.String(fmt.Sprintf("version=%s instance=%d: %s", g.Version, g.Instance, in.GetValue())), nil
}

func (g *GRPCService) tick(every time.Duration, stream grpc.ServerStream) error {
	if err := g.begin(stream.Context()); err != nil {
		return err
	}
	every = max(every, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 1; ; i++ {
		msg := wrapperspb.String(fmt.Sprintf("version=%s instance=%d tick=%d", g.Version, g.Instance, i))
		if err := stream.SendMsg(msg); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}

// Say calls Echo/Say on conn and returns the answer.
func Say(ctx context.Context, conn grpc.ClientConnInterface, msg string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(ctx, "/"+EchoService+"/Say", wrapperspb.String(msg), out, opts...); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// Tick opens an Echo/Tick stream on conn that ticks every interval; each
// call of next returns the next message. Cancel ctx to end the stream.
func Tick(ctx context.Context, conn grpc.ClientConnInterface, every time.Duration) (next func() (string, error), err error) {
	desc := &grpc.StreamDesc{StreamName: "Tick", ServerStreams: true}
	stream, err := conn.NewStream(ctx, desc, "/"+EchoService+"/Tick")
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(durationpb.New(every)); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return func() (string, error) {
		msg := new(wrapperspb.StringValue)
		if err := stream.RecvMsg(msg); err != nil {
			return "", err
		}
		return msg.GetValue(), nil
	}, nil
}

// newGRPCServer returns the --grpc mode's server: the standard health
// service (NOT_SERVING with --fail-health) and Echo.
func newGRPCServer(o options) *grpc.Server {
	s := grpc.NewServer()
	hs := health.NewServer()
	if o.failHealth {
		hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		hs.SetServingStatus(EchoService, healthpb.HealthCheckResponse_NOT_SERVING)
	} else {
		hs.SetServingStatus(EchoService, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(s, hs)
	(&GRPCService{Version: o.version, Instance: o.port, ErrorRate: o.errorRate, ErrorsAfter: o.errorsAfter,
		Latency: o.latency}).Register(s)
	return s
}

// serveGRPC serves the --grpc mode on ln until ctx ends, then stops
// gracefully within shutdownTimeout.
func serveGRPC(ctx context.Context, o options, ln net.Listener) error {
	s := newGRPCServer(o)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownTimeout):
		s.Stop()
	}
	return nil
}
