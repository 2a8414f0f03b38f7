package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/redact"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Payload describes the rollout a hook runs for. It is the JSON a
// command reads on stdin and a webhook receives.
type Payload struct {
	Hook      string         `json:"hook"`
	Service   string         `json:"service"`
	RolloutID int64          `json:"rolloutId"`
	Strategy  string         `json:"strategy"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Phase     string         `json:"phase"`
	Reason    string         `json:"reason"`
	Weights   map[string]int `json:"weights,omitempty"`
	Exposure  metrics.Counts `json:"exposure"`
	Time      time.Time      `json:"time"`
}

// Result is how a hook's run ended, after its retries.
type Result struct {
	Passed bool
	// Reason says what ran, how the last attempt ended and after how
	// many attempts: "command ./check.sh exited 1 (attempt 3/3): no
	// quorum".
	Reason string
	// Attempts counts the attempts made.
	Attempts int
}

// Runner runs hooks. The zero value works.
type Runner struct {
	// Client sends webhooks; each attempt is bounded by the hook's
	// timeout. Nil means http.DefaultClient.
	Client *http.Client
	// Dir is where commands run. "" means bluejay's working directory.
	Dir string
}

// outputTail is how much of a command's output (or a webhook's answer)
// a reason carries.
const outputTail = 512

// Run runs h with p until an attempt passes, the retries are spent or
// ctx is done.
func (r *Runner) Run(ctx context.Context, h spec.Hook, p Payload) Result {
	body, err := json.Marshal(p)
	if err != nil {
		return Result{Reason: fmt.Sprintf("encoding the payload: %v", err)}
	}
	attempts := 1 + max(h.Retries, 0)
	var res Result
	for i := 1; i <= attempts; i++ {
		res = r.attempt(ctx, h, p, body)
		res.Attempts = i
		if attempts > 1 {
			res.Reason = fmt.Sprintf("%s (attempt %d/%d)", res.Reason, i, attempts)
		}
		if res.Passed || i == attempts || !wait(ctx, h.RetryDelay.D()) {
			return res
		}
	}
	return res
}

// wait sleeps for d unless ctx ends first, reporting whether it slept.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Runner) attempt(ctx context.Context, h spec.Hook, p Payload, body []byte) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout(h))
	defer cancel()
	if h.Webhook != "" {
		return r.webhook(ctx, h, body)
	}
	return r.command(ctx, h, p, body)
}

func timeout(h spec.Hook) time.Duration {
	if h.Timeout > 0 {
		return h.Timeout.D()
	}
	return 30 * time.Second
}

func (r *Runner) command(ctx context.Context, h spec.Hook, p Payload, body []byte) Result {
	if len(h.Command) == 0 {
		return Result{Reason: "the hook has neither a command nor a webhook"}
	}
	what := "command " + strings.Join(h.Command, " ")
	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Dir = r.Dir
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), env(p)...)
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a child that keeps the output open does not hold the hook
	err := cmd.Run()
	switch {
	case err == nil:
		return Result{Passed: true, Reason: what + " exited 0" + out.suffix()}
	case ctx.Err() == context.DeadlineExceeded:
		return Result{Reason: fmt.Sprintf("%s timed out after %s%s", what, timeout(h), out.suffix())}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return Result{Reason: fmt.Sprintf("%s exited %d%s", what, exit.ExitCode(), out.suffix())}
	}
	return Result{Reason: fmt.Sprintf("%s: %v", what, err)}
}

// env is the payload as environment variables.
func env(p Payload) []string {
	return []string{"BLUEJAY_HOOK=" + p.Hook, "BLUEJAY_SERVICE=" + p.Service,
		"BLUEJAY_ROLLOUT_ID=" + strconv.FormatInt(p.RolloutID, 10), "BLUEJAY_STRATEGY=" + p.Strategy,
		"BLUEJAY_FROM=" + p.From, "BLUEJAY_TO=" + p.To, "BLUEJAY_PHASE=" + p.Phase}
}

func (r *Runner) webhook(ctx context.Context, h spec.Hook, body []byte) Result {
	what := "webhook " + redact.URL(h.Webhook)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Webhook, bytes.NewReader(body))
	if err != nil {
		return Result{Reason: fmt.Sprintf("%s: %v", what, redact.Err(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bluejay")
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return Result{Reason: fmt.Sprintf("%s timed out after %s", what, timeout(h))}
		}
		return Result{Reason: fmt.Sprintf("%s: %v", what, redact.Err(err))}
	}
	defer resp.Body.Close()
	var out tail
	_, _ = io.Copy(&out, io.LimitReader(resp.Body, 1<<20))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	return Result{Passed: ok, Reason: fmt.Sprintf("%s answered %s%s", what, resp.Status, out.suffix())}
}

// tail keeps the last outputTail bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*outputTail {
		t.b = append(t.b[:0], t.b[len(t.b)-outputTail:]...)
	}
	return len(p), nil
}

// suffix is the output's tail for a reason: ": last lines", or "".
func (t *tail) suffix() string {
	s := t.b
	if len(s) > outputTail {
		s = s[len(s)-outputTail:]
	}
	out := strings.Join(strings.Fields(strings.ToValidUTF8(string(s), "")), " ")
	if out == "" {
		return ""
	}
	if len(t.b) > outputTail {
		out = "…" + out
	}
	return ": " + out
}
