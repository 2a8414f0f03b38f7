package spec

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxTokenSize bounds the token file, which should hold one line.
const maxTokenSize = 64 << 10

// resolvePaths makes the config's file paths absolute against c.Dir.
// An unset process dir becomes c.Dir itself.
func (c *Config) resolvePaths() {
	c.Store.Path = c.abs(c.Store.Path)
	c.resolveEdgePaths()
	if c.Admin.TokenFile != "" {
		c.Admin.TokenFile = c.abs(c.Admin.TokenFile)
	}
	if t := c.Admin.TLS; t != nil {
		t.Cert, t.Key = c.absSet(t.Cert), c.absSet(t.Key)
	}
	if c.Admin.CAFile != "" {
		c.Admin.CAFile = c.abs(c.Admin.CAFile)
	}
	if p := c.Prometheus; p != nil && p.TargetsFile != "" {
		p.TargetsFile = c.abs(p.TargetsFile)
	}
	if n := c.Router.Nginx; n != nil {
		n.resolvePaths(c)
	}
	if h := c.Router.HAProxy; h != nil {
		h.resolvePaths(c)
	}
	c.Kubernetes.Kubeconfig = c.absSet(c.Kubernetes.Kubeconfig)
	for i := range c.Services {
		if m := c.Services[i].Migrations; m != nil {
			m.resolvePaths(c)
		}
		if p := c.Services[i].Platform.Process; p != nil {
			p.Dir = c.abs(p.Dir)
			p.LogDir = c.abs(p.LogDir)
		}
	}
}

// absSet resolves a path that must name a file: "" stays "", so that
// validation can say it is missing (abs would make it c.Dir).
func (c *Config) absSet(path string) string {
	if path == "" {
		return ""
	}
	return c.abs(path)
}

// abs resolves path against c.Dir; "" resolves to c.Dir.
func (c *Config) abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(c.Dir, path)
}

// readToken reads admin.tokenFile into admin.token when the file names
// only a token file. It returns the problem, located at tokenFile.
func (c *Config) readToken(x *index) *Error {
	a := &c.Admin
	if a.TokenFile == "" || a.Token != "" {
		return nil
	}
	token, err := readTokenFile(a.TokenFile)
	if err != nil {
		e := x.errorf("admin.tokenFile", "%v", err)
		e.err = err
		return e
	}
	a.Token = token
	return nil
}

// ReadTokenFile returns the token in a token file: the trimmed content
// of a small regular file, which must not be empty. Serve and the CLI
// read admin.tokenFile and the generated token file with it.
func ReadTokenFile(path string) (string, error) { return readTokenFile(path) }

// readTokenFile is ReadTokenFile.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenSize+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("reading token file: %w", err)
	case len(data) > maxTokenSize:
		return "", fmt.Errorf("token file %s is larger than %d KiB; it should hold only the token", path, maxTokenSize>>10)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty: write the admin token in it", path)
	}
	return token, nil
}
