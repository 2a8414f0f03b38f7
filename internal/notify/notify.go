package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/redact"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Message is what a json target receives: the event, with the rollout's
// fields beside it.
type Message struct {
	engine.Event
	Strategy    string         `json:"strategy"`
	FromVersion string         `json:"fromVersion,omitempty"`
	ToVersion   string         `json:"toVersion"`
	Exposure    metrics.Counts `json:"exposure"`
	Started     time.Time      `json:"started"`
}

// Notifier sends events to the configured targets. Build it with New and
// run it with Run; Notify may be called before Run. Once Run's context
// ends, Run sends what is queued within FlushTimeout and counts and logs
// as dropped what it could not send; events notified after Run returned
// are not sent.
type Notifier struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Logger receives drops and failures; nil means slog.Default().
	Logger *slog.Logger
	// RetryDelay is the wait before the first retry, doubling after
	// each. Zero means 1s.
	RetryDelay time.Duration
	// FlushTimeout bounds the sending of the queued events once Run's
	// context ended. Zero means 5s.
	FlushTimeout time.Duration

	targets []*target
	dropped atomic.Int64
}

type target struct {
	spec.Notification
	queue chan Message
}

// QueueSize is how many events wait for one target before new ones are
// dropped.
const QueueSize = 256

// New returns a notifier for the targets, with defaults applied.
func New(targets []spec.Notification) *Notifier {
	n := &Notifier{}
	for _, t := range targets {
		if t.Name == "" {
			if u, err := url.Parse(t.URL); err == nil {
				t.Name = u.Host
			}
		}
		n.targets = append(n.targets, &target{Notification: t, queue: make(chan Message, QueueSize)})
	}
	return n
}

// Notify offers an event of rollout r to every target. It never blocks.
func (n *Notifier) Notify(r engine.Rollout, ev engine.Event) {
	m := Message{Event: ev, Strategy: r.Strategy, FromVersion: r.From.Label, ToVersion: r.To.Label,
		Exposure: r.Exposure, Started: r.Started}
	for _, t := range n.targets {
		if !t.wants(ev) {
			continue
		}
		select {
		case t.queue <- m:
		default:
			n.drop(t, m, "the queue is full")
		}
	}
}

// Dropped counts the events dropped so far: queues full, or sending
// failed after the retries.
func (n *Notifier) Dropped() int64 { return n.dropped.Load() }

// wants reports whether the target's filters select ev.
func (t *target) wants(ev engine.Event) bool {
	switch {
	case len(t.Services) > 0 && !slices.Contains(t.Services, ev.Service):
		return false
	case len(t.Phases) > 0 && !slices.Contains(t.Phases, string(ev.Phase)):
		return false
	}
	return t.Events == spec.EventsAll || ev.From != ev.Phase || ev.Hook != ""
}

// Run sends queued events until ctx is done, then flushes the queues:
// what is queued, and an event whose sending the end interrupted, is
// sent within FlushTimeout; what is left is dropped, counted and logged.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Go(func() { n.run(ctx, t) })
	}
	wg.Wait()
}

// run sends t's events until ctx is done, then flushes its queue.
func (n *Notifier) run(ctx context.Context, t *target) {
	for {
		select {
		case <-ctx.Done():
			n.flush(ctx, t, nil)
			return
		case m := <-t.queue:
			err := n.send(ctx, t, m)
			switch {
			case err != nil && ctx.Err() != nil:
				n.flush(ctx, t, &m) // interrupted: it goes first
				return
			case err != nil:
				n.drop(t, m, err.Error())
			}
		}
	}
}

// flush sends first, if not nil, then what t's queue holds, within
// FlushTimeout of ctx's end. Regression: the queue was dropped silently.
func (n *Notifier) flush(ctx context.Context, t *target, first *Message) {
	timeout := n.FlushTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for m := first; ; m = nil {
		if m == nil {
			select {
			case q := <-t.queue:
				m = &q
			default:
				return
			}
		}
		if fctx.Err() != nil {
			n.drop(t, *m, "shutting down: not sent within the flush timeout "+timeout.String())
			continue
		}
		if err := n.send(fctx, t, *m); err != nil {
			n.drop(t, *m, "shutting down: "+err.Error())
		}
	}
}

func (n *Notifier) drop(t *target, m Message, why string) {
	total := n.dropped.Add(1)
	n.logger().Warn("notification dropped", "target", t.Name, "service", m.Service, "rollout", m.RolloutID,
		"phase", m.Phase, "why", why, "dropped", total)
}

// send POSTs m to t, retrying with a doubling delay.
func (n *Notifier) send(ctx context.Context, t *target, m Message) error {
	body, err := encode(t.Format, m)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	delay := n.RetryDelay
	if delay <= 0 {
		delay = time.Second
	}
	for attempt := 0; ; attempt++ {
		err = n.post(ctx, t, body)
		if err == nil || attempt >= t.Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func (n *Notifier) post(ctx context.Context, t *target, body []byte) error {
	timeout := t.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return redact.Err(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bluejay")
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", t.Name, redact.Err(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("posting to %s: %s", t.Name, resp.Status)
	}
	return nil
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.Default()
}

func encode(format string, m Message) ([]byte, error) {
	if format == spec.FormatSlack {
		return json.Marshal(slack(m))
	}
	return json.Marshal(m)
}
