package server

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// prepareAdmin settles the admin API's token and transport before
// anything starts: with no token configured it generates one (or reads
// the one generated on an earlier start), and with admin.tls it wraps the
// admin listener in TLS. The token itself is never logged; only the
// file that holds it.
func (s *Server) prepareAdmin() error {
	a := &s.cfg.Admin
	if a.Token == "" {
		path := s.cfg.GeneratedTokenFile()
		token, created, err := EnsureToken(path)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		a.Token = token
		logToken(s.log, path, created)
	}
	if t := a.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return fmt.Errorf("admin.tls: %w", err)
		}
		s.adminLn = tls.NewListener(s.adminLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
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
// with a new random token (mode 0600, O_EXCL: never over an existing
// file) if it does not exist. created reports whether it did.
func EnsureToken(path string) (token string, created bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		token, err := spec.ReadTokenFile(path)
		return token, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("creating token file: %w", err)
	}
	token = rand.Text() // 26 base32 characters: 130 random bits
	_, err = fmt.Fprintln(f, token)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path) // half-written: the next start tries again
		return "", false, fmt.Errorf("writing token file %s: %w", path, err)
	}
	return token, true, nil
}
