// Package throttle slows down guessing of the admin token: each client
// (by IP address) gets a small budget of failed attempts that refills
// slowly; a client that has spent it is refused with 429 and a
// Retry-After until the budget refills, whatever it sends — the right
// token included, so a guess cannot be told right from wrong while
// refused. The right token is never locked out for longer than one
// refill interval (Every).
package throttle

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults: 10 failures at once, then one more each second.
const (
	DefaultBurst = 10
	DefaultEvery = time.Second
)

// maxClients bounds the clients remembered; clients whose budget is full
// are forgotten first, then the map is cleared.
const maxClients = 10000

// Throttle counts failed authentications per client. The zero value is
// ready to use with the defaults. It is safe for concurrent use.
type Throttle struct {
	// Burst is how many failures a client may make in a row. 0 means
	// DefaultBurst.
	Burst int
	// Every is how often one more failure is allowed once the burst is
	// spent. 0 means DefaultEvery.
	Every time.Duration
	// Logger receives a line when a client is throttled (at most one a
	// minute per client). nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	lim     *rate.Limiter
	logged  time.Time
	refused int
}

// Client is the key of r's client: the IP address of its connection.
func Client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Check reports whether the client may try to authenticate now; when it
// may not, wait is how long until it may. Check spends nothing.
func (t *Throttle) Check(key string) (wait time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[key]
	if c == nil {
		return 0, true
	}
	tokens := c.lim.TokensAt(now)
	if tokens >= 1 {
		return 0, true
	}
	c.refused++
	if now.Sub(c.logged) >= time.Minute {
		c.logged = now
		t.logger().Warn("admin authentication throttled: too many wrong tokens", "client", key,
			"refusedSinceLastLine", c.refused)
		c.refused = 0
	}
	return time.Duration((1 - tokens) * float64(t.every())), false
}

// Fail records a failed authentication by the client.
func (t *Throttle) Fail(key string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clients == nil {
		t.clients = map[string]*client{}
	}
	c := t.clients[key]
	if c == nil {
		if len(t.clients) >= maxClients {
			t.forget(now)
		}
		c = &client{lim: rate.NewLimiter(rate.Every(t.every()), t.burst())}
		t.clients[key] = c
	}
	c.lim.AllowN(now, 1)
}

// forget drops the clients whose budget has refilled, or every client
// if none has.
func (t *Throttle) forget(now time.Time) {
	for k, c := range t.clients {
		if c.lim.TokensAt(now) >= float64(t.burst()) {
			delete(t.clients, k)
		}
	}
	if len(t.clients) >= maxClients {
		clear(t.clients)
	}
}

// Message is the sentence of a 429 answer, after SetRetryAfter.
func Message(wait time.Duration) string {
	return "too many wrong tokens from this address: retry after " + strconv.Itoa(RetryAfter(wait)) + "s"
}

// SetRetryAfter sets the Retry-After header of a 429 answer.
func SetRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter(wait)))
}

// RetryAfter is wait in whole seconds, rounded up, at least 1.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

func (t *Throttle) burst() int {
	if t.Burst > 0 {
		return t.Burst
	}
	return DefaultBurst
}

func (t *Throttle) every() time.Duration {
	if t.Every > 0 {
		return t.Every
	}
	return DefaultEvery
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Throttle) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// Guard wraps h, a handler that authenticates by itself and answers 401
// to a wrong token: a throttled client gets 429 before h sees it, and
// each 401 h writes counts as a failure.
func (t *Throttle) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := Client(r)
		if wait, ok := t.Check(client); !ok {
			SetRetryAfter(w, wait)
			http.Error(w, Message(wait), http.StatusTooManyRequests)
			return
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			t.Fail(client)
		}
	})
}

// recorder notes the status h writes; it flushes, for streams.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
