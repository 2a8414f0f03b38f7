package edge

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// acmeManager is certmagic set up for the proxy's listeners: the HTTP-01
// challenge is answered by Edge.HTTPHandler on proxy.httpListen, the
// TLS-ALPN-01 one by Edge.TLSConfig on proxy.listen. certmagic finds
// those ports taken (by bluejay) and leaves the answers to them.
type acmeManager struct {
	hosts  []string
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	log    *slog.Logger
	cancel context.CancelFunc
}

func newACME(a *spec.ACME, cfg spec.ProxyConfig, opts Options, log *slog.Logger) (*acmeManager, error) {
	roots, err := caRoots(a.CARoots)
	if err != nil {
		return nil, err
	}
	m := &acmeManager{log: log}
	for _, h := range a.Hosts {
		m.hosts = append(m.hosts, strings.ToLower(h))
	}
	zl := zap.NewNop()
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: opts.RenewCheckInterval,
		Logger:             zl,
	})
	var storage certmagic.Storage = &certmagic.FileStorage{Path: a.Storage}
	if opts.Storage != nil {
		storage = opts.Storage
	}
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: storage,
		Logger:  zl,
		OnEvent: m.onEvent,

		DisableARI: opts.DisableARI,
	})
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA: a.CA, Email: a.Email, Agreed: true, TrustedRoots: roots,
		AltHTTPPort: portOf(cfg.HTTPListen), AltTLSALPNPort: portOf(cfg.Listen),
		DisableHTTPChallenge: cfg.HTTPListen == "",
		Logger:               zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// start manages the hosts' certificates in the background: those in
// storage are loaded first, so a restart serves them at once.
func (m *acmeManager) start(ctx context.Context) error {
	ctx, m.cancel = context.WithCancel(ctx)
	return m.magic.ManageAsync(ctx, m.hosts)
}

func (m *acmeManager) stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.cache.Stop()
}

func (m *acmeManager) manages(name string) bool { return slices.Contains(m.hosts, name) }

// onEvent logs certmagic's certificate events: failures with the CA's
// reason (certmagic retries them with backoff), issuance and renewal.
func (m *acmeManager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_failed":
		err, _ := data["error"].(error)
		reason := ""
		if err != nil {
			reason = problem(err)
		}
		m.log.Error("ACME: obtaining a certificate failed; retrying with backoff", "host", data["identifier"],
			"renewal", data["renewal"], "reason", reason)
	case "cert_obtained":
		m.log.Info("ACME: certificate obtained", "host", data["identifier"], "renewal", data["renewal"])
	}
	return nil
}
