package proxy

import (
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/axiomhq/hyperloglog"
)

// users estimates how many distinct users a version served, and how many
// of them saw a failure: the "users" of the blast radius. A HyperLogLog
// sketch per set keeps the memory fixed (a few KiB) however many users
// come, at about 1% error; an exact set would grow with the users.
type users struct {
	mu     sync.Mutex
	all    *hyperloglog.Sketch
	failed *hyperloglog.Sketch
}

func newUsers() *users {
	return &users{all: hyperloglog.New14(), failed: hyperloglog.New14()}
}

func (u *users) add(key string, failed bool) {
	if key == "" {
		return
	}
	h := hashKey(key) // hashed outside the lock, without a []byte copy
	u.mu.Lock()
	defer u.mu.Unlock()
	u.all.InsertHash(h)
	if failed {
		u.failed.InsertHash(h)
	}
}

// hashKey is 64-bit FNV-1a of key, mixed (the sketch reads the hash's
// top bits as its register index) — the same for a key in any process.
func hashKey(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	h ^= h >> 33 // fmix64 of MurmurHash3: spreads FNV's weak high bits
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

func (u *users) estimate() (all, failed int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return int64(u.all.Estimate()), int64(u.failed.Estimate())
}

// userKey names the user behind a request: Proxy.UserKey if set, else
// the client's address without its port — the first X-Forwarded-For
// address when the peer is a trusted proxy, which is never trusted
// otherwise.
func (p *Proxy) userKey(r *http.Request) string {
	if p.UserKey != nil {
		return p.UserKey(r)
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" && p.trusted(r.RemoteAddr) {
		first, _, _ := strings.Cut(xff, ",")
		return strings.TrimSpace(first)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
