package server

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// resolveAdminToken makes sure cfg.Admin.Token is set before anything
// uses it (the admin API, the proxy's control API and its client): with
// no token configured it generates one into cfg.GeneratedTokenFile, or
// reads the one generated on an earlier start (by serve or by proxy).
// The token itself is never logged; only the file that holds it.
func resolveAdminToken(cfg *spec.Config, log *slog.Logger) error {
	if cfg.Admin.Token != "" {
		return nil
	}
	path := cfg.GeneratedTokenFile()
	token, created, err := EnsureToken(path)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	cfg.Admin.Token = token
	logToken(log, path, created)
	return nil
}

// prepareAdmin wraps the admin listener in TLS when admin.tls is set.
func (s *Server) prepareAdmin() error {
	t := s.cfg.Admin.TLS
	if t == nil {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return fmt.Errorf("admin.tls: %w", err)
	}
	s.adminLn = tls.NewListener(s.adminLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return nil
}

func logToken(log *slog.Logger, path string, created bool) {
	if created {
		log.Info("admin token generated: no admin.token or admin.tokenFile is configured; the CLI reads it from this file",
			"file", path)
		return
	}
	log.Info("admin token read from the file generated on an earlier start", "file", path)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("admin token file is readable by other users; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
}

// EnsureToken returns the token in the file at path, creating the file
// with a new random token (mode 0600) if it does not exist; created
// reports whether it did. The token is written to a temporary file
// (O_EXCL, 0600) that is then hard-linked to path, which fails if path
// exists: a file is never overwritten, and nobody reads a half-written
// one when two processes (serve and proxy) start at once.
func EnsureToken(path string) (token string, created bool, err error) {
	if token, err := spec.ReadTokenFile(path); !errors.Is(err, fs.ErrNotExist) {
		return token, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bluejay-token-*") // O_EXCL, mode 0600
	if err != nil {
		return "", false, fmt.Errorf("creating token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	token = rand.Text() // 26 base32 characters: 130 random bits
	_, err = fmt.Fprintln(tmp, token)
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return "", false, fmt.Errorf("writing token file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		token, err := spec.ReadTokenFile(path) // another process won the race
		return token, false, err
	} else if err != nil {
		return "", false, fmt.Errorf("creating token file: %w", err)
	}
	return token, true, nil
}
