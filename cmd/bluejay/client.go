package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// client builds an admin API client. BLUEJAY_ADMIN and BLUEJAY_TOKEN
// alone suffice; otherwise the config (-c, or ./bluejay.yaml) gives the
// address (https:// when admin.tls is set), the token (admin.token,
// admin.tokenFile, or the file serve generated), and the CA to trust
// (admin.caFile, or admin.tls.cert); the environment overrides each.
func (g *globals) client() (*api.Client, error) {
	addr, token := os.Getenv("BLUEJAY_ADMIN"), os.Getenv("BLUEJAY_TOKEN")
	ca := cmp.Or(g.caFile, os.Getenv("BLUEJAY_CA_FILE"))
	if addr != "" && token != "" && g.config == "" {
		return newClient(addr, token, ca)
	}
	path := g.configPath()
	switch {
	case path == "" && addr != "":
		return nil, usageError{fmt.Errorf("BLUEJAY_ADMIN is set but BLUEJAY_TOKEN is not: set it to the admin token " +
			"(admin.token, admin.tokenFile, or the bluejay.token file serve generated next to its config), or pass -c FILE")}
	case path == "" && token != "":
		return nil, usageError{fmt.Errorf("BLUEJAY_TOKEN is set but BLUEJAY_ADMIN is not: set it to the admin address " +
			"(admin.listen, e.g. 127.0.0.1:7070), or pass -c FILE")}
	case path == "":
		return nil, usageError{fmt.Errorf("no admin API: pass -c FILE or set BLUEJAY_ADMIN and BLUEJAY_TOKEN")}
	}
	cfg, err := spec.Load(path)
	if err != nil {
		return nil, failedError{msg: err.Error()}
	}
	a := cfg.Admin
	if addr == "" {
		addr = a.Listen
		if a.TLS != nil {
			addr = "https://" + a.Listen
		}
	}
	if ca == "" {
		ca = a.CAFile
		if ca == "" && a.TLS != nil {
			ca = a.TLS.Cert
		}
	}
	if token == "" {
		if token, err = configToken(cfg); err != nil {
			return nil, err
		}
	}
	return newClient(addr, token, ca)
}

// configToken is the config's token, or the one serve generated next to
// the config when none is configured.
func configToken(cfg *spec.Config) (string, error) {
	if cfg.Admin.Token != "" {
		return cfg.Admin.Token, nil
	}
	path := cfg.GeneratedTokenFile()
	token, err := spec.ReadTokenFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", failedError{msg: fmt.Sprintf("no admin token: the config sets neither admin.token nor admin.tokenFile, "+
			"and %s does not exist yet (serve creates it on its first start); or set BLUEJAY_TOKEN", path)}
	}
	if err != nil {
		return "", failedError{msg: fmt.Sprintf("admin token: %v", err)}
	}
	return token, nil
}

// newClient is a client of the admin API at addr, trusting the
// certificates in caFile besides the system's roots ("" for the roots
// only).
func newClient(addr, token, caFile string) (*api.Client, error) {
	c := &api.Client{Addr: addr, Token: token}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, failedError{msg: fmt.Sprintf("reading the admin API's CA file: %v", err)}
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, failedError{msg: fmt.Sprintf("CA file %s holds no PEM certificate", caFile)}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c.HTTP = &http.Client{Transport: t}
	return c, nil
}
