package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// etcdPrefix roots the bench's keys in its etcd.
const etcdPrefix = "/bluejay-scale"

// etcdStore is the store section of a config on the bench's etcd.
func etcdStore(endpoint string) string {
	return fmt.Sprintf("store:\n  etcd:\n    endpoints: [%q]\n    prefix: %s", endpoint, etcdPrefix)
}

// startFollowers starts n `bluejay proxy` processes on serve's config
// with their own listen and control addresses: each follows the routes
// in etcd.
func startFollowers(ctx context.Context, serve *bluejay, s settings, be *backends, storeConfig string, n int) ([]*bluejay, error) {
	var out []*bluejay
	for i := range n {
		addrs, err := freeAddrs(2)
		if err != nil {
			return out, err
		}
		f := &bluejay{dir: serve.dir, bin: serve.bin, log: filepath.Join(serve.dir, fmt.Sprintf("follower%d.log", i)),
			proxy: addrs[0], admin: addrs[1]}
		name := fmt.Sprintf("follower%d.yaml", i)
		conf := config(s, f.proxy+"\n  control: "+f.admin, serve.admin, be, storeConfig)
		if err := os.WriteFile(filepath.Join(serve.dir, name), []byte(conf), 0o600); err != nil {
			return out, err
		}
		if err := f.launch("proxy", "-c", name); err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// change is a route's new weights as the bench's own watch of etcd saw
// them: the reference time of a weight change.
type change struct {
	service, weights string
	at               time.Time
}

// routeWatch records every change of a route's weights in etcd.
type routeWatch struct {
	mu      sync.Mutex
	changes []change
	last    map[string]string // service → weights
	start   time.Time         // before the routes were read: a follower's later lines answer changes
	cli     *clientv3.Client
	stop    context.CancelFunc
	done    chan struct{}
}

func watchRoutes(ctx context.Context, endpoint string) (*routeWatch, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	w := &routeWatch{last: map[string]string{}, cli: cli, done: make(chan struct{}), start: time.Now()}
	prefix := etcdPrefix + "/routes/"
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("reading the routes in etcd: %w", err)
	}
	for _, kv := range resp.Kvs {
		var r router.Route
		if json.Unmarshal(kv.Value, &r) == nil {
			w.last[r.Service] = weightsText(r)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	w.stop = cancel
	ch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		defer close(w.done)
		for resp := range ch {
			at := time.Now()
			for _, ev := range resp.Events {
				var r router.Route
				if ev.Kv == nil || json.Unmarshal(ev.Kv.Value, &r) != nil {
					continue
				}
				wt := weightsText(r)
				w.mu.Lock()
				if w.last[r.Service] != wt {
					w.last[r.Service] = wt
					w.changes = append(w.changes, change{r.Service, wt, at})
				}
				w.mu.Unlock()
			}
		}
	}()
	return w, nil
}

func (w *routeWatch) close() []change {
	w.stop()
	<-w.done
	w.cli.Close()
	return w.changes
}

// weightsText is a route's weights as the follower logs them (slog's
// %+v of the map, keys sorted).
func weightsText(r router.Route) string { return fmt.Sprintf("%+v", r.Weights()) }

// applied is one "route applied from the store" line of a follower's log.
type applied struct {
	weights string
	at      time.Time
}

var appliedLine = regexp.MustCompile(`^time=(\S+) level=INFO msg="route applied from the store" service=(\S+) weights="?(map\[[^\]]*\])"?`)

// followerLog reads a follower's applied routes, by service, in order.
func followerLog(path string) (map[string][]applied, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]applied{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := appliedLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		out[m[2]] = append(out[m[2]], applied{m[3], at})
	}
	return out, sc.Err()
}

// propagation is, for each weight change, the delay until the last
// follower applied it (or a later change of the same service, which
// supersedes it); missing counts changes some follower never applied.
// A follower's lines are matched to the changes in order, from since
// (when the bench began watching: earlier lines are the followers' first
// sync), so that a follower that applied a change before the bench's own
// watch saw it — by however much the bench lagged — counts 0 rather than
// being matched to a later line of the same weights.
func propagation(changes []change, logs []map[string][]applied, since time.Time) (delays []time.Duration, missing int) {
	byService := map[string][]change{}
	for _, c := range changes {
		byService[c.service] = append(byService[c.service], c)
	}
	for svc, cs := range byService {
		worst := make([]time.Duration, len(cs))
		gone := make([]bool, len(cs))
		for _, log := range logs {
			entries := log[svc]
			from := 0 // where the line answering the next change may be
			for i, c := range cs {
				// The first application since the bench watched, after the
				// previous change's, of this change's weights or a later
				// one's.
				later := map[string]bool{}
				for _, l := range cs[i:] {
					later[l.weights] = true
				}
				k := slices.IndexFunc(entries[from:], func(a applied) bool { return later[a.weights] && !a.at.Before(since) })
				if k < 0 {
					gone[i] = true
					continue
				}
				k += from
				worst[i] = max(worst[i], entries[k].at.Sub(c.at))
				from = k // a line that skipped to a later change's weights answers it too
				if entries[k].weights == c.weights {
					from++
				}
			}
		}
		for i := range cs {
			if gone[i] {
				missing++
			} else {
				delays = append(delays, worst[i])
			}
		}
	}
	slices.Sort(delays)
	return delays, missing
}

// quantile of sorted durations.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// startEtcd runs etcd for -fleet.
func startEtcd() (*etcdtest.Server, error) {
	e, err := etcdtest.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd for -fleet: %w", err)
	}
	return e, nil
}
