package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
)

// ProxyServer is `bluejay proxy`: the data plane alone. It routes users
// by the table in the store, follows the store's changes, and serves the
// control API that `bluejay serve` drives it through (see package
// dataplane). It knows nothing of rollouts, so a controller that
// restarts, upgrades or dies leaves traffic as the last decision said.
type ProxyServer struct {
	cfg       *spec.Config
	log       *slog.Logger
	store     store.Store
	storeName string
	dp        *dataPlane
	follower  *dataplane.Follower
	control   net.Listener
}

// NewProxy opens the store and binds the users' and the control
// listeners. The config must set proxy.control.
func NewProxy(cfg *spec.Config, log *slog.Logger) (*ProxyServer, error) {
	if cfg.Proxy.Control == "" {
		return nil, errors.New("proxy.control is not set: `bluejay serve` runs the proxy itself; set proxy.control to run it as its own process")
	}
	if err := resolveAdminToken(cfg, log); err != nil {
		return nil, err
	}
	st, storeName, err := openStore(cfg, false)
	if err != nil {
		return nil, err
	}
	p := &ProxyServer{cfg: cfg, log: log, store: st, storeName: storeName}
	if p.dp, err = newDataPlaneWith(cfg.Proxy, edgeOptions(st), log); err != nil {
		st.Close()
		return nil, err
	}
	if p.control, err = net.Listen("tcp", cfg.Proxy.Control); err != nil {
		p.dp.ln.Close()
		st.Close()
		return nil, fmt.Errorf("proxy.control: %w", err)
	}
	p.follower = &dataplane.Follower{Store: st, Proxy: p.dp.proxy, Logger: log}
	return p, nil
}

// Addr is the users' bound address.
func (p *ProxyServer) Addr() string { return p.dp.addr() }

// ControlAddr is the control API's bound address.
func (p *ProxyServer) ControlAddr() string { return p.control.Addr().String() }

// Run applies the stored table before the first user request, then
// serves users and the control API and follows the store until ctx is
// done; it then drains in-flight requests.
func (p *ProxyServer) Run(ctx context.Context) error {
	defer p.store.Close()
	if err := p.follower.Sync(ctx); err != nil {
		p.control.Close()
		p.dp.ln.Close()
		p.dp.proxy.Close()
		return err
	}
	h := &dataplane.Handler{Proxy: p.dp.proxy, Token: p.cfg.Admin.Token, Logger: p.log,
		Reload:  p.follower.Sync,
		Metrics: prom.Handler(prom.NewRegistry(&prom.Collector{Proxy: p.dp.proxy, Watch: p.follower}))}
	p.dp.proxy.OnError = h.Failed
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/", h)
	controlSrv := &http.Server{Handler: (&throttle.Throttle{Logger: p.log}).Guard(mux), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: controlReadTimeout, IdleTimeout: controlIdleTimeout}

	fctx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	go p.follower.Run(fctx)
	errc := make(chan error, 2)
	go func() { errc <- p.dp.serve() }()
	go func() { errc <- serve(controlSrv, p.control) }()
	p.log.Info("bluejay proxy serving", "proxy", p.Addr(), "control", p.ControlAddr(), "store", p.storeName)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.Proxy.DrainTimeout.D()+5*time.Second)
	defer cancel()
	p.log.Info("bluejay proxy shutting down: draining")
	// The errors streams never end on their own: close them first.
	controlSrv.Close()
	return errors.Join(err, p.dp.shutdown(sctx))
}
