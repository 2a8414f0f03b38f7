package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Result is the outcome of a smoke run.
type Result struct {
	// Passed says whether every test passed on every instance.
	Passed bool `json:"passed"`
	// Check and Addr name the test and instance that failed; "" when
	// the run passed.
	Check string `json:"check,omitempty"`
	Addr  string `json:"addr,omitempty"`
	// Reason says why the run failed, or what passed.
	Reason string `json:"reason"`
	// Duration is how long the whole run took.
	Duration time.Duration `json:"duration"`
}

// Smoke test settings used for zero fields, matching the spec defaults.
const (
	defaultSmokeTimeout = 5 * time.Second
	defaultSmokeStatus  = http.StatusOK
)

// RunSmoke sends each test to each of addrs, one request at a time, and
// stops at the first failure. It passes with no tests, and fails with
// tests but no addrs: a gate with nothing to test passes nothing. A nil
// client means http.DefaultClient.
func RunSmoke(ctx context.Context, client *http.Client, addrs []string, tests []spec.Smoke) Result {
	start := time.Now()
	res := runSmoke(ctx, noRedirects(client), addrs, tests)
	res.Duration = time.Since(start)
	return res
}

func runSmoke(ctx context.Context, client *http.Client, addrs []string, tests []spec.Smoke) Result {
	if len(tests) == 0 {
		return Result{Passed: true, Reason: "no smoke tests"}
	}
	if len(addrs) == 0 {
		return Result{Reason: "no instances to test"}
	}
	for _, test := range tests {
		test = smokeDefaults(test)
		for _, addr := range addrs {
			if err := smoke(ctx, client, addr, test); err != nil {
				what := test.Method + " " + test.Path
				if test.GRPC != nil {
					what = test.Name
				}
				return Result{Check: test.Name, Addr: addr, Reason: fmt.Sprintf("%s on %s: %v", what, addr, err)}
			}
		}
	}
	return Result{Passed: true,
		Reason: fmt.Sprintf("%s passed on %s", plural(len(tests), "smoke test"), plural(len(addrs), "instance"))}
}

// smokeDefaults fills test's zero fields as the spec package would.
func smokeDefaults(test spec.Smoke) spec.Smoke {
	if test.Timeout <= 0 {
		test.Timeout = spec.Duration(defaultSmokeTimeout)
	}
	if g := test.GRPC; g != nil {
		if test.Name == "" {
			test.Name = "grpc health " + cmpOr(g.Service, `""`)
		}
		return test
	}
	if test.Method == "" {
		test.Method = http.MethodGet
	}
	if test.Path == "" {
		test.Path = "/"
	}
	if test.ExpectStatus == 0 {
		test.ExpectStatus = defaultSmokeStatus
	}
	if test.Timeout <= 0 {
		test.Timeout = spec.Duration(defaultSmokeTimeout)
	}
	if test.Name == "" {
		test.Name = test.Method + " " + test.Path
	}
	return test
}

// smoke sends one test to addr. Its error reads well after
// "METHOD PATH on ADDR: ".
func smoke(ctx context.Context, client *http.Client, addr string, test spec.Smoke) error {
	tctx, cancel := context.WithTimeout(ctx, test.Timeout.D())
	defer cancel()
	var err error
	if test.GRPC != nil {
		err = GRPCProbe(tctx, addr, test.GRPC.Service)
	} else {
		err = smokeRequest(tctx, client, addr, test)
	}
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// The test's own timeout, not the caller's: say so plainly
		// rather than "context deadline exceeded".
		return fmt.Errorf("timed out after %s", test.Timeout)
	}
	return err
}

func smokeRequest(ctx context.Context, client *http.Client, addr string, test spec.Smoke) error {
	req, err := http.NewRequestWithContext(ctx, test.Method, "http://"+addr+test.Path, nil)
	if err != nil {
		return err
	}
	for k, v := range test.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v // Go sends req.Host, not a Host header
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return unwrapURL(err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != test.ExpectStatus {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, test.ExpectStatus)
	}
	return checkBody(resp.Body, test.ExpectBody)
}

// checkBody reads at most maxBody bytes of body and checks that they
// contain want; want "" is not checked.
func checkBody(body io.Reader, want string) error {
	if want == "" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if !strings.Contains(string(b), want) {
		return fmt.Errorf("body does not contain %q", want)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
