package spec

import (
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
)

// protocol checks a service's protocol, its gRPC settings, and the gRPC
// health probe and smoke tests that need an HTTP/2 instance.
func (c *checker) protocol(s *Service, path string) {
	switch s.Protocol {
	case ProtocolHTTP, ProtocolH2C, ProtocolGRPC:
	default:
		c.add(path+".protocol", "unknown protocol %q (valid: %s, %s, %s)", s.Protocol, ProtocolHTTP, ProtocolH2C, ProtocolGRPC)
	}
	if g := s.GRPC; g != nil {
		if s.Protocol != ProtocolGRPC {
			c.add(path+".grpc", "grpc settings judge gRPC calls, which needs protocol: grpc (got %s)", s.Protocol)
		}
		c.grpcErrorCodes(g.ErrorCodes, path+".grpc.errorCodes")
	}
	http2 := s.Protocol == ProtocolH2C || s.Protocol == ProtocolGRPC
	if s.Health.GRPC != nil {
		if !http2 {
			c.add(path+".health.grpc", "a gRPC health probe needs an HTTP/2 instance: set protocol: grpc or h2c")
		}
		if c.x.isSet(path + ".health.path") {
			c.add(path+".health.path", "set either health.path (an HTTP probe) or health.grpc, not both")
		}
	}
	for i := range s.Smoke {
		sp := indexPath(path+".smoke", i)
		if s.Smoke[i].GRPC != nil && !http2 {
			c.add(sp+".grpc", "a gRPC smoke test needs an HTTP/2 instance: set protocol: grpc or h2c")
		}
	}
}

// grpcErrorCodes checks a list of grpc-status codes, by name or number.
func (c *checker) grpcErrorCodes(list []string, path string) {
	if c.x.isSet(path) && len(list) == 0 {
		c.add(path, "errorCodes needs at least one code, such as UNAVAILABLE; leave it out for the default list")
	}
	for i, s := range list {
		if _, err := ParseGRPCCode(s); err != nil {
			c.add(indexPath(path, i), "%v", err)
		}
	}
}

// ParseGRPCCode parses a gRPC status code by its name (UNAVAILABLE,
// case-insensitive) or number (0 to 16).
func ParseGRPCCode(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		if n > uint64(codes.Unauthenticated) {
			return 0, &codeError{s}
		}
		return uint32(n), nil
	}
	var code codes.Code
	if err := code.UnmarshalJSON([]byte(strconv.Quote(strings.ToUpper(s)))); err != nil {
		return 0, &codeError{s}
	}
	return uint32(code), nil
}

// GRPCErrorCodes returns the service's grpc.errorCodes as numbers; nil
// when unset (the default list). Invalid codes, which validate refuses,
// are left out.
func (s *Service) GRPCErrorCodes() []uint32 {
	if s.GRPC == nil || len(s.GRPC.ErrorCodes) == 0 {
		return nil
	}
	out := make([]uint32, 0, len(s.GRPC.ErrorCodes))
	for _, name := range s.GRPC.ErrorCodes {
		if n, err := ParseGRPCCode(name); err == nil {
			out = append(out, n)
		}
	}
	return out
}

type codeError struct{ s string }

func (e *codeError) Error() string {
	return "unknown gRPC status code " + strconv.Quote(e.s) +
		": want a name such as UNAVAILABLE, INTERNAL or DEADLINE_EXCEEDED, or a number from 0 to 16"
}
