package dataplane

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// maxBody bounds a control request's body (a drain's address list).
const maxBody = 64 << 10

// Handler serves a proxy's control API. Every call needs the bearer
// Token. It is safe for concurrent use.
type Handler struct {
	// Proxy is the data plane being controlled. Required.
	Proxy *proxy.Proxy
	// Token is the bearer token every call must carry. Required: an empty
	// token refuses every call.
	Token string
	// Reload re-reads the routing table from the store and applies it.
	// Nil means the proxy's table is written by an in-process controller,
	// and reload only reports it.
	Reload func(ctx context.Context) error
	// Metrics, if set, serves GET /metrics (the proxy's Prometheus
	// exposition) behind the same token. Nil: no /metrics.
	Metrics http.Handler
	// Logger receives failures. Nil means slog.Default().
	Logger *slog.Logger

	mu   sync.Mutex
	subs map[chan string]struct{}
}

// ServeHTTP routes a control call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bluejay"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == pathRoutes:
		writeJSON(w, routes{Routes: h.Proxy.Routes()})
	case r.Method == http.MethodPost && r.URL.Path == pathReload:
		h.reload(w, r)
	case r.Method == http.MethodGet && r.URL.Path == pathCounts:
		q := r.URL.Query()
		writeJSON(w, h.Proxy.Counts(q.Get("service"), q.Get("version")))
	case r.Method == http.MethodGet && r.URL.Path == pathWindow:
		h.window(w, r)
	case r.Method == http.MethodPost && r.URL.Path == pathDrain:
		h.drain(w, r)
	case r.Method == http.MethodGet && r.URL.Path == pathErrors:
		h.errors(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/metrics" && h.Metrics != nil:
		h.Metrics.ServeHTTP(w, r)
	default:
		http.Error(w, fmt.Sprintf("no control call %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	}
}

func (h *Handler) authorized(r *http.Request) bool {
	const prefix = "Bearer "
	got := r.Header.Get("Authorization")
	if h.Token == "" || len(got) < len(prefix) || got[:len(prefix)] != prefix {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got[len(prefix):]), []byte(h.Token)) == 1
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.Reload != nil {
		if err := h.Reload(r.Context()); err != nil {
			h.logger().Error("reloading routes from the store", "err", err)
			http.Error(w, "reloading routes from the store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	writeJSON(w, routes{Routes: h.Proxy.Routes()})
}

func (h *Handler) window(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil || to < from {
		http.Error(w, "from and to must be Unix nanoseconds with from <= to", http.StatusBadRequest)
		return
	}
	s := h.Proxy.Window(q.Get("service"), q.Get("version"), time.Unix(0, from), time.Unix(0, to))
	writeJSON(w, sample{Sample: s, Latencies: s.Latencies})
}

func (h *Handler) drain(w http.ResponseWriter, r *http.Request) {
	var req drainRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "decoding the drain request: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The caller's deadline bounds the wait: its request's context ends
	// when it gives up.
	// The wait may outlive the server's ReadTimeout, which would end it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if err := h.Proxy.WaitDrained(r.Context(), req.Addrs); err != nil {
		http.Error(w, err.Error(), http.StatusGatewayTimeout)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errors streams, one per line, the service of each failed request, so
// that the controller judges a failing canary as its failures arrive.
// Lines for a service are coalesced while the stream is behind.
func (h *Handler) errors(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// The stream outlives the server's ReadTimeout, which would end it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	ch := make(chan string, 64)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan string]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	// A keep-alive line tells the client the stream still works.
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case svc := <-ch:
			fmt.Fprintln(w, svc)
		case <-keep.C:
			fmt.Fprintln(w)
		}
		fl.Flush()
	}
}

// Failed tells every errors stream that a request of service failed. It
// never blocks: a full stream drops the line, and the controller's next
// tick sees the failure anyway. Set it as the proxy's OnError.
func (h *Handler) Failed(service, _ string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- service:
		default:
		}
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
