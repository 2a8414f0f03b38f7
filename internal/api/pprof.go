package api

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves Go's runtime profiles under /debug/pprof/, each
// behind the bearer token (see Server.Pprof). The handlers are
// net/http/pprof's, mounted here rather than on http.DefaultServeMux,
// which nothing serves.
func (s *Server) mountPprof(mux *http.ServeMux) {
	mux.Handle("GET /debug/pprof/", s.guard(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", s.guard(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", s.guard(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", s.guard(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("POST /debug/pprof/symbol", s.guard(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", s.guard(http.HandlerFunc(pprof.Trace)))
}
