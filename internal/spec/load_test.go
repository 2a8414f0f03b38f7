package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// writeConfig writes a config file into a fresh directory.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bluejay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadExample(t *testing.T) {
	cfg, err := spec.Load("testdata/valid/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/valid")
	if cfg.Dir != dir {
		t.Errorf("Dir = %q, want %q", cfg.Dir, dir)
	}
	if want := filepath.Join(dir, "bluejay.db"); cfg.Store.Path != want {
		t.Errorf("store.path = %q, want %q", cfg.Store.Path, want)
	}
	web, ok := cfg.Service("web")
	if !ok {
		t.Fatal(`Service("web") not found`)
	}
	p := web.Platform.Process
	if web.Replicas() != 2 || p.Dir != dir || p.LogDir != filepath.Join(dir, "logs") {
		t.Errorf("process = %+v, want 2 replicas, dir %s and logs under it", p, dir)
	}
	bg := web.BlueGreen
	if bg.PreviewWeight != 1 || bg.PreviewDuration.D() != 10*time.Second || bg.ScaleDownDelay.D() != 5*time.Minute {
		t.Errorf("blueGreen = %+v", bg)
	}
	if len(web.Smoke) != 1 || web.Smoke[0].Name != "GET /" || web.Smoke[0].ExpectBody != "v" {
		t.Errorf("smoke = %+v", web.Smoke)
	}
}

func TestService(t *testing.T) {
	cfg := &spec.Config{Services: []spec.Service{{Name: "a"}, {Name: "b"}}}
	if s, ok := cfg.Service("b"); !ok || s != &cfg.Services[1] {
		t.Errorf(`Service("b") = %v, %v; want the second service`, s, ok)
	}
	if _, ok := cfg.Service("c"); ok {
		t.Errorf(`Service("c") found a service`)
	}
}

func TestReplicas(t *testing.T) {
	tests := []struct {
		name     string
		platform spec.Platform
		want     int
	}{
		{"process", spec.Platform{Process: &spec.Process{Replicas: 3}}, 3},
		{"process before defaults", spec.Platform{Process: &spec.Process{}}, 1},
		{"static", spec.Platform{Static: &spec.Static{Targets: map[string][]string{"v1": {"a:1", "b:1"}}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec.Service{Platform: tt.platform}
			if got := s.Replicas(); got != tt.want {
				t.Errorf("Replicas() = %d, want %d", got, tt.want)
			}
		})
	}
}

const tokenFileConfig = `
admin:
  tokenFile: secrets/token
services:
  - name: web
    version: v1
    platform: {process: {command: [./app, "{{.Port}}"]}}
`

func TestLoadTokenFile(t *testing.T) {
	path := writeConfig(t, tokenFileConfig)
	dir := filepath.Dir(path)
	tokenPath := filepath.Join(dir, "secrets", "token")
	if err := os.Mkdir(filepath.Dir(tokenPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenPath, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Token != "s3cret" || cfg.Admin.TokenFile != tokenPath {
		t.Errorf("admin = %+v, want token s3cret read from %s", cfg.Admin, tokenPath)
	}
}

func TestLoadTokenFileProblems(t *testing.T) {
	tests := []struct {
		name  string
		setup func(tokenPath string) error
		want  string
	}{
		{"missing", func(string) error { return nil }, "no such file or directory"},
		{"empty", func(p string) error { return os.WriteFile(p, []byte(" \n"), 0o600) }, "is empty"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "not a regular file"},
		{"too large", func(p string) error { return os.WriteFile(p, make([]byte, 1<<20), 0o600) }, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tokenFileConfig)
			secrets := filepath.Join(filepath.Dir(path), "secrets")
			if err := os.Mkdir(secrets, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(filepath.Join(secrets, "token")); err != nil {
				t.Fatal(err)
			}
			_, err := spec.Load(path)
			var errs *spec.Errors
			if !errors.As(err, &errs) || len(*errs) != 1 {
				t.Fatalf("got %v, want one error", err)
			}
			e := (*errs)[0]
			if e.Field != "admin.tokenFile" || e.Line != 3 || e.Col != 14 || !strings.Contains(e.Msg, tt.want) {
				t.Errorf("got %v, want an error at 3:14 admin.tokenFile containing %q", e, tt.want)
			}
		})
	}
}

func TestParseResolvesPaths(t *testing.T) {
	const yaml = `
admin: {token: t}
store: {path: /var/lib/bluejay/db}
services:
  - name: web
    version: v1
    platform:
      process: {command: [./app, "{{.Port}}"], dir: ../app, logDir: /var/log/bluejay/}
`
	cfg, err := spec.Parse("/etc/bluejay/bluejay.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Services[0].Platform.Process
	got := []string{cfg.Dir, cfg.Store.Path, p.Dir, p.LogDir}
	want := []string{"/etc/bluejay", "/var/lib/bluejay/db", "/etc/app", "/var/log/bluejay"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("paths = %q, want %q", got, want)
			break
		}
	}
}
