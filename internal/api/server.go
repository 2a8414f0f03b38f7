package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
)

// maxBody bounds request bodies; an admin request is a few hundred bytes.
const maxBody = 64 << 10

// Server serves the admin API.
type Server struct {
	// Controller carries out the requests. Required.
	Controller *controller.Controller
	// Token is the bearer token every /v1 request must carry. Required:
	// an empty token refuses every request.
	Token string
	// Logger receives request errors. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics serves GET /metrics, the Prometheus exposition. It is
	// behind the same bearer token as /v1: the series name every service,
	// version and instance address and show each rollout's state, and
	// Prometheus sends a token with `authorization: {credentials_file:
	// ...}` in its scrape config. There is no unauthenticated variant.
	// nil means no /metrics route (404).
	Metrics http.Handler
	// Authorize, when set, is asked about a request that carries no valid
	// bearer token; ok lets it through. The dashboard (internal/web)
	// sets it to accept its session cookie, with its CSRF check on
	// requests that change state. When it refuses, why (if not "") is the
	// 401's message, saying what is missing. nil means the bearer token
	// only.
	Authorize func(*http.Request) (ok bool, why string)
	// Throttle slows down token guessing: a client (IP address) that sent
	// too many wrong tokens gets 429 with Retry-After until its budget
	// refills (see internal/throttle). Share one with the dashboard's
	// login form. nil means a throttle of its own with the defaults (10
	// failures, then one a second); there is no way to turn it off.
	Throttle *throttle.Throttle
	// Reload serves POST /v1/reload (reload.go). nil means no such route.
	Reload Reloader
	// Config serves GET /v1/config (reload.go). nil means no such route.
	Config func() ConfigState
	// Pprof serves Go's runtime profiles under /debug/pprof/ (heap,
	// profile?seconds=N, goroutine, ...), behind the bearer token
	// (pprof.go; admin.pprof). false means no such routes (404).
	Pprof bool

	statuses statusCache // listServices' encoded statuses
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	if s.Throttle == nil {
		s.Throttle = &throttle.Throttle{Logger: s.Logger}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /v1/services", s.auth(s.listServices))
	mux.Handle("GET /v1/services/{name}", s.auth(s.getService))
	mux.Handle("POST /v1/services/{name}/deploy", s.auth(s.deploy))
	mux.Handle("POST /v1/services/{name}/promote", s.auth(s.promote))
	mux.Handle("POST /v1/services/{name}/retry", s.auth(s.retry))
	mux.Handle("POST /v1/services/{name}/abort", s.auth(s.command(engine.CmdAbort)))
	mux.Handle("POST /v1/services/{name}/rollback", s.auth(s.rollback))
	mux.Handle("POST /v1/services/{name}/pause", s.auth(s.command(engine.CmdPause)))
	mux.Handle("POST /v1/services/{name}/resume", s.auth(s.command(engine.CmdResume)))
	mux.Handle("POST /v1/services/{name}/contract", s.auth(s.command(engine.CmdContract)))
	mux.Handle("POST /v1/services/{name}/maintenance", s.auth(s.maintenance))
	mux.Handle("POST /v1/services/{name}/pause-traffic", s.auth(s.pauseTraffic))
	mux.Handle("POST /v1/services/{name}/resume-traffic", s.auth(s.resumeTraffic))
	mux.Handle("GET /v1/services/{name}/rollouts", s.auth(s.listRollouts))
	mux.Handle("GET /v1/services/{name}/events", s.auth(s.listEvents))
	mux.Handle("GET /v1/rollouts/{id}", s.auth(s.getRollout))
	mux.Handle("GET /v1/routes", s.auth(s.listRoutes))
	if s.Reload != nil {
		mux.Handle("POST /v1/reload", s.auth(s.reload))
	}
	if s.Config != nil {
		mux.Handle("GET /v1/config", s.auth(s.config))
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.guard(s.Metrics))
	}
	if s.Pprof {
		s.mountPprof(mux)
	}
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, int, error)

// rawJSON is a handler's answer already encoded as writeJSON would
// encode it: written as it is.
type rawJSON []byte

// auth checks the bearer token, then runs h and writes its result.
func (s *Server) auth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.admit(w, r) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, status, err := h(w, r)
		if err != nil {
			status, code := s.errorStatus(r, err)
			writeJSON(w, status, errorBody{Error: message(err), Code: code})
			return
		}
		writeJSON(w, status, v)
	})
}

// guard checks the bearer token, then hands the request to h, which
// writes its own answer.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.admit(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// admit reports whether r may go on; when not, it has written the 429
// of a throttled client or the 401 of a wrong token.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	client := throttle.Client(r)
	if wait, ok := s.Throttle.Check(client); !ok {
		throttle.SetRetryAfter(w, wait)
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: throttle.Message(wait), Code: CodeThrottled})
		return false
	}
	ok, why := s.authorized(r)
	if !ok {
		s.Throttle.Fail(client)
		w.Header().Set("WWW-Authenticate", `Bearer realm="bluejay"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: cmp.Or(why, "missing or wrong bearer token"), Code: CodeUnauthorized})
	}
	return ok
}

func (s *Server) authorized(r *http.Request) (bool, string) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && s.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1 {
		return true, ""
	}
	if s.Authorize == nil {
		return false, ""
	}
	return s.Authorize(r)
}

// errorBody is every error answer: a sentence for people and a code
// for programs.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Codes of error answers, in the "code" field beside "error".
const (
	// CodeUnauthorized: the bearer token is missing or wrong (401).
	CodeUnauthorized = "unauthorized"
	// CodeThrottled: too many wrong tokens came from this client; the
	// Retry-After header says when to try again (429).
	CodeThrottled = "throttled"
	// CodeBadRequest: the request is malformed or invalid (400).
	CodeBadRequest = "bad_request"
	// CodeTooLarge: the body is over the size limit (413).
	CodeTooLarge = "too_large"
	// CodeUnknownService: no service of that name is configured (404);
	// the message suggests the closest name.
	CodeUnknownService = "unknown_service"
	// CodeNotFound: no such rollout (404).
	CodeNotFound = "not_found"
	// CodeConflict: the request does not fit the service's state (409).
	CodeConflict = "conflict"
	// CodeStandby: this controller is a standby; the leader acts (503).
	CodeStandby = "standby"
	// CodeCanceled: the client went away (499).
	CodeCanceled = "canceled"
	// CodeInternal: the server failed (500); the log has the details.
	CodeInternal = "internal"
)

// message is err's text for people, without the sentinel's prefix
// ("conflict: ", "invalid request: "), which the status and code say.
func message(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{errBadRequest, controller.ErrInvalid, controller.ErrConflict} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	return msg
}

// errBadRequest marks errors in what the client sent.
var errBadRequest = errors.New("bad request")

// errorStatus maps a handler's error to its status and code.
func (s *Server) errorStatus(r *http.Request, err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, errBadRequest), errors.Is(err, controller.ErrInvalid):
		return http.StatusBadRequest, CodeBadRequest
	case errors.Is(err, controller.ErrUnknownService):
		return http.StatusNotFound, CodeUnknownService
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, controller.ErrConflict):
		return http.StatusConflict, CodeConflict
	case errors.Is(err, controller.ErrStandby):
		return http.StatusServiceUnavailable, CodeStandby
	case errors.Is(err, context.Canceled):
		return 499, CodeCanceled
	}
	s.logger().Error("admin request", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, CodeInternal
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if raw, ok := v.(rawJSON); ok {
		_, _ = w.Write(raw)
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly into v, a pointer to a flat struct:
// unknown fields, keys that match a field only when case is ignored
// ({"VERSION": ...}, which encoding/json would accept), and trailing data
// are errors.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: reading JSON body: %v", errBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: reading JSON body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON body", errBadRequest)
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil {
		known := fieldNames(v)
		for k := range keys {
			if !slices.Contains(known, k) {
				return fmt.Errorf("%w: reading JSON body: json: unknown field %q (field names are case-sensitive: %s)",
					errBadRequest, k, strings.Join(known, ", "))
			}
		}
	}
	return nil
}

// fieldNames are the JSON names of the fields of the struct v points to.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func limit(r *http.Request) (int, error) {
	q := r.URL.Query().Get("limit")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: limit %q: want a number >= 0", errBadRequest, q)
	}
	return n, nil
}
