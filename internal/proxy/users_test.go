package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUsersEstimate pins the blast radius's distinct users: repeated
// requests from one user count once; failures count their users apart.
func TestUsersEstimate(t *testing.T) {
	u := newUsers()
	for i := range 1000 {
		u.add(fmt.Sprintf("10.0.%d.%d", i/250, i%250), i%10 == 0)
		u.add(fmt.Sprintf("10.0.%d.%d", i/250, i%250), false) // the same user again
	}
	all, failed := u.estimate()
	if all < 980 || all > 1020 || failed < 95 || failed > 105 {
		t.Fatalf("estimate = %d users, %d failed; want about 1000 and 100", all, failed)
	}
}

func TestUserKeyIsTheClientAddress(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:53211"
	r.Header.Set("X-Forwarded-For", "203.0.113.9") // not trusted
	p := &Proxy{}
	if got := p.userKey(r); got != "192.0.2.7" {
		t.Fatalf("userKey = %q, want the client address without port", got)
	}
	p.UserKey = func(*http.Request) string { return "sticky" }
	if got := p.userKey(r); got != "sticky" {
		t.Fatalf("userKey with UserKey set = %q", got)
	}
}
