package edge

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// checkEvery is how often a certificate's files are looked at for a
// change, at most: at a handshake after that long.
const checkEvery = time.Second

// fileCert is a certificate read from files, read again when they change.
type fileCert struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	mtimes  [2]time.Time
	checked time.Time
}

func loadFileCert(certFile, keyFile string) (*fileCert, error) {
	f := &fileCert{certFile: certFile, keyFile: keyFile}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// load reads the files.
func (f *fileCert) load() error {
	mtimes, err := f.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("loading %s: %w", f.certFile, err)
	}
	f.cert, f.mtimes = &cert, mtimes
	return nil
}

func (f *fileCert) stat() ([2]time.Time, error) {
	var out [2]time.Time
	for i, name := range []string{f.certFile, f.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, err
		}
		out[i] = fi.ModTime()
	}
	return out, nil
}

// get returns the certificate, read again first if its files changed
// since. A change that does not load (a half-written file) keeps the
// certificate served so far and is tried again at the next check.
func (f *fileCert) get(now time.Time, onErr func(error)) *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.checked) >= checkEvery {
		f.checked = now
		if mtimes, err := f.stat(); err == nil && mtimes != f.mtimes {
			if err := f.load(); err != nil {
				onErr(err)
			}
		}
	}
	return f.cert
}

// Files are the static certificates: one per host name (exact or
// "*.domain") and a default one.
type Files struct {
	byName map[string]*fileCert // lower-case names, wildcards as "*.domain"
	def    *fileCert
}

// byServerName returns the certificate for a server name: exact, then
// wildcard, then nil.
func (fs *Files) byServerName(name string) *fileCert {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if f := fs.byName[name]; f != nil {
		return f
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return fs.byName["*"+name[i:]]
	}
	return nil
}

// same reports whether fs and o serve the same certificates for the same
// names.
func (fs *Files) same(o *Files) bool {
	if fs == nil || o == nil {
		return fs == o
	}
	if !fs.def.same(o.def) || len(fs.byName) != len(o.byName) {
		return false
	}
	for name, f := range fs.byName {
		if !f.same(o.byName[name]) {
			return false
		}
	}
	return true
}

// same reports whether f and o hold the same certificate.
func (f *fileCert) same(o *fileCert) bool {
	if f == nil || o == nil {
		return f == o
	}
	a, b := f.current(), o.current()
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

func (f *fileCert) current() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cert
}
