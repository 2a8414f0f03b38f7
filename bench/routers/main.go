// Command routers measures each Router adapter on the path that matters
// to a rollout: the time from the engine's decision (the SetRoute call)
// to the new split being live (SetRoute's return: each adapter returns
// only then, which the conformance suite checks), over flips between two
// versions under continuous load, and the requests lost meanwhile (goal
// 0). It prints a table, one row per router.
//
//	go run ./bench/routers [-changes 100] [-workers 4] [-routers builtin,nginx]
//
// A router whose engine is not installed is reported as skipped. To add
// a router, add a target to targets.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy/haproxytest"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx/nginxtest"
)

// target is one router under benchmark.
type target struct {
	name string
	// start starts the data plane in dir and returns the router, the
	// users' base URL and how to stop it.
	start func(dir string) (rt router.Router, url string, stop func(), err error)
}

var targets = []target{
	{"builtin", startBuiltin},
	{"nginx", startNginx},
	{"haproxy", startHAProxy},
}

var quiet = slog.New(slog.DiscardHandler)

func startBuiltin(string) (router.Router, string, func(), error) {
	p := &proxy.Proxy{Logger: quiet}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	return &builtin.Router{Proxy: p}, "http://" + l.Addr().String(), func() { srv.Close(); p.Close() }, nil
}

func startNginx(dir string) (router.Router, string, func(), error) {
	d, err := nginxtest.Start(dir)
	if err != nil {
		return nil, "", nil, err
	}
	rt, err := nginx.New(d.Router, quiet)
	if err != nil {
		d.Stop()
		return nil, "", nil, err
	}
	return rt, d.URL(), func() { d.Stop() }, nil
}

func startHAProxy(dir string) (router.Router, string, func(), error) {
	d, err := haproxytest.Start(dir)
	if err != nil {
		return nil, "", nil, err
	}
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		d.Stop()
		return nil, "", nil, err
	}
	return rt, d.URL(), func() { d.Stop() }, nil
}

// result is one router's row.
type result struct {
	name                    string
	skipped                 string
	median, p90, max        time.Duration
	sent, failed, staleNext int64
}

func main() {
	changes := flag.Int("changes", 100, "weight changes (flips between v1 and v2) per router")
	workers := flag.Int("workers", 4, "clients sending requests continuously")
	only := flag.String("routers", "", "comma-separated routers to run (default all)")
	flag.Parse()
	v1, v2 := backend("v1"), backend("v2")
	var results []result
	for _, tg := range targets {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), tg.name) {
			continue
		}
		r, err := run(tg, v1, v2, *changes, *workers)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", tg.name, err)
			r = result{name: tg.name, skipped: err.Error()}
		}
		results = append(results, r)
	}
	print(results, *changes)
}

// backend serves name on a loopback port and returns its address.
func backend(name string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	return l.Addr().String()
}

// run flips one router between v1 and v2 changes times under load.
func run(tg target, v1, v2 string, changes, workers int) (result, error) {
	dir, err := os.MkdirTemp("", "bluejay-bench-routers-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	rt, url, stop, err := tg.start(dir)
	if err != nil {
		return result{}, err
	}
	defer stop()
	set := func(w2 int) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := rt.SetRoute(ctx, router.Route{Service: "web", Backends: []router.Backend{
			{Version: "v2", Weight: w2, Addrs: []string{v2}}, {Version: "v1", Weight: 100 - w2, Addrs: []string{v1}}}})
		return time.Since(start), err
	}
	if _, err := set(0); err != nil {
		return result{}, err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var sent, failed atomic.Int64
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				_, err := get(client, url)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	res := result{name: tg.name}
	var took []time.Duration
	for i := range changes {
		want := "v2"
		w2 := 100
		if i%2 == 1 {
			want, w2 = "v1", 0
		}
		d, err := set(w2)
		if err != nil {
			close(stopLoad)
			wg.Wait()
			return result{}, fmt.Errorf("change %d: %w", i, err)
		}
		took = append(took, d)
		// The first request after SetRoute returned must see the new split.
		if body, err := get(client, url); err != nil || body != want {
			res.staleNext++
		}
		// Let requests race the split before the next change.
		for before := sent.Load(); sent.Load() < before+8; {
			time.Sleep(time.Millisecond)
		}
	}
	close(stopLoad)
	wg.Wait()
	slices.Sort(took)
	res.median, res.p90, res.max = took[len(took)/2], took[len(took)*9/10], took[len(took)-1]
	res.sent, res.failed = sent.Load(), failed.Load()
	return res, nil
}

// get sends one request and returns the body of a 200 answer.
func get(c *http.Client, url string) (string, error) {
	res, err := c.Get(url + "/")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return string(body), err
}

func print(results []result, changes int) {
	fmt.Printf("decision (SetRoute call) to live (its return), %d flips between v1 and v2 under continuous load\n\n", changes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "router\tmedian\tp90\tmax\trequests\tfailed\tstale after return\t")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\t\t\t\t\t\t\n", r.name, r.skipped)
			continue
		}
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%d\t%d\t%d\t\n", r.name, round(r.median), round(r.p90), round(r.max), r.sent, r.failed, r.staleNext)
	}
	tw.Flush()
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}
