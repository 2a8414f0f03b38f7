package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
)

//go:embed assets
var assets embed.FS

// CookieName is the session cookie the login form sets.
const CookieName = "bluejay_session"

// HeaderUI is the header the dashboard's scripts send with every request.
// A cookie-authenticated request that changes state without it is refused:
// a cross-site form cannot set a header, and a cross-site script cannot
// send one without a CORS preflight that nothing here answers.
const HeaderUI = "X-Bluejay-UI"

// sessionTTL bounds a session's life, however active.
const sessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept in memory; the oldest go first.
const maxSessions = 1000

// contentSecurityPolicy lets pages load only the embedded assets and call
// only the admin listener: no inline script or style, no other origin.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the dashboard under /ui/: the page and its assets, the
// login form (POST /ui/login), logout (POST /ui/logout) and the two
// read-only chart endpoints under /ui/api/.
type Handler struct {
	// Token is the admin token the login form must be given. Required: an
	// empty token refuses every login.
	Token string
	// Secure marks the session cookie Secure; set it when the admin
	// listener serves TLS. false sends the cookie over plain HTTP too.
	Secure bool
	// Window measures a version over a time window for the charts. nil
	// means GET /ui/api/window answers 404 and the page draws no chart.
	Window metrics.Windowed
	// Templates are the configured analysis templates, whose conditions
	// the page draws as limits. nil means none.
	Templates map[string]spec.AnalysisTemplate
	// Logger receives errors. nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Throttle slows down token guessing on the login form: a client that
	// sent too many wrong tokens gets 429 with Retry-After. Share the admin
	// API's. nil means a throttle of its own with the defaults.
	Throttle *throttle.Throttle

	once     sync.Once
	mux      *http.ServeMux
	mu       sync.Mutex
	sessions map[[32]byte]time.Time // sha256 of the session id → expiry
}

// ServeHTTP serves the /ui/ routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.routes)
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() {
	if h.Throttle == nil {
		h.Throttle = &throttle.Throttle{Logger: h.Logger, Now: h.Now}
	}
	static, _ := fs.Sub(assets, "assets") // the directory is embedded
	files := http.FileServerFS(static)
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /ui/{$}", h.index)
	for _, name := range []string{"app.js", "chart.js", "style.css"} {
		h.mux.Handle("GET /ui/"+name, http.StripPrefix("/ui/", files))
	}
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.logout)
	h.mux.HandleFunc("GET /ui/api/window", h.guard(h.window))
	h.mux.HandleFunc("GET /ui/api/templates", h.guard(h.templates))
}

// index serves the dashboard to a logged-in browser and the login form
// to any other.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.session(r) {
		serveAsset(w, "assets/index.html", http.StatusOK)
		return
	}
	serveAsset(w, "assets/login.html", http.StatusOK)
}

func serveAsset(w http.ResponseWriter, name string, status int) {
	b, err := assets.ReadFile(name)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	if status == http.StatusUnauthorized {
		// The login form again, its error shown.
		b = bytes.Replace(b, []byte(`id="login-error" hidden`), []byte(`id="login-error"`), 1)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// login checks the form's token and starts a session. A wrong token gets
// the form again with 401 and no cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	client := throttle.Client(r)
	if wait, ok := h.Throttle.Check(client); !ok {
		throttle.SetRetryAfter(w, wait)
		http.Error(w, throttle.Message(wait), http.StatusTooManyRequests)
		return
	}
	got := r.PostFormValue("token")
	if h.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(h.Token)) != 1 {
		h.Throttle.Fail(client)
		serveAsset(w, "assets/login.html", http.StatusUnauthorized)
		return
	}
	id, err := h.newSession()
	if err != nil {
		h.logger().Error("dashboard login", "err", err)
		http.Error(w, "could not start a session", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true,
		Secure: h.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// logout ends the session. Like every state change by cookie it needs the
// dashboard's header.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderUI) != "1" {
		http.Error(w, "missing "+HeaderUI+" header", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		h.mu.Lock()
		delete(h.sessions, sha256.Sum256([]byte(c.Value)))
		h.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.Secure, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// Authorize reports whether r carries a live session cookie and, unless
// it only reads (GET, HEAD), the dashboard's header. It is the admin
// API's Authorize hook: when it refuses a live session for want of the
// header, why says so ("" otherwise).
func (h *Handler) Authorize(r *http.Request) (ok bool, why string) {
	if !h.session(r) {
		return false, ""
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true, ""
	}
	if r.Header.Get(HeaderUI) != "1" {
		return false, "the dashboard's session cookie changes state only with the " + HeaderUI + ": 1 header " +
			"(a guard against cross-site requests); send it, or use a bearer token"
	}
	return true, ""
}

// session reports whether r's cookie names a live session. Sessions are
// kept by the SHA-256 of their id, so the map lookup's timing says
// nothing about the ids themselves.
func (h *Handler) session(r *http.Request) bool {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return false
	}
	key := sha256.Sum256([]byte(c.Value))
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.sessions[key]
	if ok && !h.now().Before(exp) {
		delete(h.sessions, key)
		return false
	}
	return ok
}

// newSession returns a new random session id and remembers it.
func (h *Handler) newSession() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions == nil {
		h.sessions = map[[32]byte]time.Time{}
	}
	for k, exp := range h.sessions {
		if !now.Before(exp) {
			delete(h.sessions, k)
		}
	}
	for len(h.sessions) >= maxSessions {
		var oldest [32]byte
		var first time.Time
		for k, exp := range h.sessions {
			if first.IsZero() || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(h.sessions, oldest)
	}
	h.sessions[sha256.Sum256([]byte(id))] = now.Add(sessionTTL)
	return id, nil
}

// guard lets through requests with a session cookie.
func (h *Handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := h.Authorize(r); !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "log in first", "code": "unauthorized"})
			return
		}
		next(w, r)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
