package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

func main() {
	mode := flag.String("mode", "proxy", "")
	listen := flag.String("listen", "127.0.0.1:18080", "")
	up := flag.String("up", "127.0.0.1:18081", "")
	cpu := flag.String("cpu", "", "")
	d := flag.Duration("d", 8*time.Second, "")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		panic(err)
	}
	if *mode == "backend" {
		(&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetContentType("text/plain"); ctx.SetBodyString("ok\n") }}).Serve(ln)
		return
	}
	p := &proxy.Proxy{VersionHeader: "X-Bluejay-Version", Logger: slog.New(slog.DiscardHandler), BodyBuffer: 65536, MaxBodyBytes: 10 << 20}
	p.SetRoute(router.Route{Service: "web", PathPrefix: "/",
		Backends: []router.Backend{{Version: "v1", Weight: 90, Addrs: []string{*up}}, {Version: "v2", Weight: 10, Addrs: []string{*up}}},
		Rules:    []router.Rule{{Header: "X-Canary", Exact: "1", Version: "v2"}},
		Sticky:   &router.Sticky{Cookie: "bluejay-key", Generate: true},
		Shield:   &router.Shield{Stable: "v1", Methods: []string{"GET", "HEAD"}},
		Outlier:  &router.Outlier{ConsecutiveFailures: 5, BaseEjection: 1, MaxEjection: 10},
	})
	s := p.NewFastServer(proxy.FastOptions{MaxHeaderBytes: 65536, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute})
	if *cpu != "" {
		go func() {
			time.Sleep(3 * time.Second)
			f, _ := os.Create(*cpu)
			pprof.StartCPUProfile(f)
			time.Sleep(*d)
			pprof.StopCPUProfile()
			f.Close()
			fmt.Println("profile written")
		}()
	}
	s.Serve(ln)
}
