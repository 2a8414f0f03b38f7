package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
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
	// bearer token; true lets it through. The dashboard (internal/web)
	// sets it to accept its session cookie, with its CSRF check on
	// requests that change state. nil means the bearer token only.
	Authorize func(*http.Request) bool
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
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
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.guard(s.Metrics))
	}
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, int, error)

// auth checks the bearer token, then runs h and writes its result.
func (s *Server) auth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			unauthorized(w)
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
		if !s.authorized(r) {
			unauthorized(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="bluejay"`)
	writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong bearer token", Code: CodeUnauthorized})
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && s.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1 {
		return true
	}
	return s.Authorize != nil && s.Authorize(r)
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: reading JSON body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON body", errBadRequest)
	}
	return nil
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
