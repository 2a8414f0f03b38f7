package spec

import (
	"slices"
	"strings"
	"testing"
)

const grpcHead = `admin: {token: x}
services:
  - name: rpc
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
`

// TestGRPCDefaults: a grpc service is probed with the gRPC health
// service by default, and its error codes parse by name or number.
func TestGRPCDefaults(t *testing.T) {
	cfg, err := Parse("rpc.yaml", []byte(grpcHead+`    protocol: grpc
    grpc: {errorCodes: [unavailable, "13"]}
    smoke: [{grpc: {service: echo}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.Health.GRPC == nil || s.Health.GRPC.Service != "" {
		t.Errorf("health.grpc = %+v, want the default {service: \"\"}", s.Health.GRPC)
	}
	if got := s.GRPCErrorCodes(); !slices.Equal(got, []uint32{14, 13}) {
		t.Errorf("GRPCErrorCodes = %v, want [14 13]", got)
	}
	if got := s.Smoke[0].Name; got != "grpc health echo" {
		t.Errorf("smoke name = %q", got)
	}

	cfg, err = Parse("web.yaml", []byte(grpcHead))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Services[0]; s.Protocol != ProtocolHTTP || s.Health.GRPC != nil || s.GRPCErrorCodes() != nil {
		t.Errorf("an http service = protocol %q, health.grpc %+v, codes %v; want http, none, nil", s.Protocol, s.Health.GRPC, s.GRPCErrorCodes())
	}
}

// TestGRPCInvalid: each bad gRPC setting is refused at its line and
// field, saying what would be valid.
func TestGRPCInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"protocol", grpcHead + "    protocol: http2\n",
			`rpc.yaml:6:15: services[0].protocol: unknown protocol "http2" (valid: http, h2c, grpc)`},
		{"code name", grpcHead + "    protocol: grpc\n    grpc: {errorCodes: [UNAVAILABLE, NOPE]}\n",
			`rpc.yaml:7:38: services[0].grpc.errorCodes[1]: unknown gRPC status code "NOPE"`},
		{"code number", grpcHead + "    protocol: grpc\n    grpc: {errorCodes: [17]}\n",
			`services[0].grpc.errorCodes[0]: unknown gRPC status code "17"`},
		{"no codes", grpcHead + "    protocol: grpc\n    grpc: {errorCodes: []}\n",
			`services[0].grpc.errorCodes: errorCodes needs at least one code`},
		{"grpc on http", grpcHead + "    grpc: {errorCodes: [14]}\n",
			`services[0].grpc: grpc settings judge gRPC calls, which needs protocol: grpc (got http)`},
		{"health on http", grpcHead + "    health: {grpc: {}}\n",
			`services[0].health.grpc: a gRPC health probe needs an HTTP/2 instance`},
		{"health both", grpcHead + "    protocol: grpc\n    health: {path: /healthz, grpc: {}}\n",
			`services[0].health.path: set either health.path (an HTTP probe) or health.grpc, not both`},
		{"smoke path", grpcHead + "    protocol: h2c\n    smoke: [{path: /, grpc: {}}]\n",
			`services[0].smoke[0].path: path is for HTTP smoke tests`},
		{"smoke on http", grpcHead + "    smoke: [{grpc: {}}]\n",
			`services[0].smoke[0].grpc: a gRPC smoke test needs an HTTP/2 instance`},
		{"nginx", "router: {nginx: {config: n.conf}}\n" + grpcHead + "    protocol: grpc\n",
			`services[0].protocol: protocol grpc needs bluejay's builtin proxy; router.nginx speaks HTTP/1.1 to instances`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("rpc.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}
