package gatewayapi

import (
	"regexp"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestCookieAndPrefixMatches: the regular expressions a cookie or a
// header prefix becomes match what the builtin proxy's rules match, and
// nothing more, in RE2 (Envoy's and Go's syntax), both where the
// implementation searches for the expression (Go's MatchString) and
// where it must match the whole value (Envoy's).
func TestCookieAndPrefixMatches(t *testing.T) {
	for _, tc := range []struct {
		rule    router.Rule
		yes, no []string
	}{
		{router.Rule{Cookie: "bj", Exact: "1"}, []string{"bj=1", "a=b; bj=1", "bj=1; a=b", "a=b;bj=1", "a=b; bj=1; c=d"}, []string{"bj=10", "xbj=1", "bj=2", "a=bj=1", "bj=2; x=bj=1"}},
		{router.Rule{Cookie: "bj.x", Prefix: "be"}, []string{"bj.x=beta", "a=1; bj.x=be", "bj.x=beta; z=1"}, []string{"bjax=beta", "bj.x=alpha", "bj.x=al; y=be"}},
		{router.Rule{Header: "X-Canary", Prefix: "a.b"}, []string{"a.b", "a.bc"}, []string{"axb", "xa.b"}},
	} {
		m := headerMatch(tc.rule)
		search := regexp.MustCompile(m.Value)
		whole := regexp.MustCompile(`^(?:` + m.Value + `)$`)
		for _, re := range []*regexp.Regexp{search, whole} {
			for _, s := range tc.yes {
				if !re.MatchString(s) {
					t.Errorf("%+v: %q does not match %q", tc.rule, re, s)
				}
			}
			for _, s := range tc.no {
				if re.MatchString(s) {
					t.Errorf("%+v: %q matches %q", tc.rule, re, s)
				}
			}
		}
	}
}
