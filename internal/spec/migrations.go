package spec

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/migrate/guard"
)

// Migrations are a service's schema changes, tied to its rollouts
// (expand → migrate → contract): a version's expand runs before the
// version starts and must leave the schema usable by the old version
// (the old version's smoke tests rehearse that before any user sees the
// new one); its contract runs only once the rollout completed and the
// old version was stopped, when no rollback by a traffic flip remains.
type Migrations struct {
	// Database says where the database is. Its URL is never logged nor
	// written to the store. Required.
	Database Database `yaml:"database"`
	// AutoContract runs a version's contract as soon as its rollout
	// completed and the old version was stopped. Default false: `bluejay
	// contract SERVICE` runs it.
	AutoContract bool `yaml:"autoContract"`
	// Versions are each version's steps, by version label. Default none:
	// a version without an entry changes no schema.
	Versions map[string]VersionMigrations `yaml:"versions"`
}

// Database locates the service's database. Exactly one field is set.
type Database struct {
	// URLEnv names an environment variable of bluejay's holding the URL
	// (postgres://user:pass@host:5432/db).
	URLEnv string `yaml:"urlEnv"`
	// URLFile is a file holding the URL (surrounding whitespace trimmed),
	// relative to the config file.
	URLFile string `yaml:"urlFile"`
}

// URL reads the database URL from the environment or the file.
func (d Database) URL() (string, error) {
	if d.URLEnv != "" {
		u := os.Getenv(d.URLEnv)
		if u == "" {
			return "", fmt.Errorf("environment variable %s (migrations.database.urlEnv) is empty", d.URLEnv)
		}
		return u, nil
	}
	b, err := os.ReadFile(d.URLFile)
	if err != nil {
		return "", fmt.Errorf("reading migrations.database.urlFile: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if u == "" {
		return "", fmt.Errorf("migrations.database.urlFile %s is empty", d.URLFile)
	}
	return u, nil
}

// VersionMigrations are one version's schema steps.
type VersionMigrations struct {
	// Expand runs before the version starts; it must only add (columns,
	// tables, triggers keeping old and new shapes in sync). Default none.
	Expand *MigrationStep `yaml:"expand"`
	// Contract runs after the rollback window closed: it removes what
	// only the old version needed. Default none.
	Contract *MigrationStep `yaml:"contract"`
}

// MigrationStep is one migration: a SQL file or a command. Exactly one of
// SQL and Command is set.
type MigrationStep struct {
	// SQL is a file of statements run in one transaction (all or
	// nothing), relative to the config file.
	SQL string `yaml:"sql"`
	// Command runs any migration tool, with the database URL in its
	// environment as DATABASE_URL; exit 0 passes. It is looked up in PATH
	// unless it contains a slash, relative to the config's directory.
	Command []string `yaml:"command"`
	// AllowDestructive lets an expand SQL file drop, rename or retype
	// columns or tables, or add NOT NULL without a default — which would
	// break the old version and make rollback a restore. Recorded in the
	// decision log when used. Default false.
	AllowDestructive bool `yaml:"allowDestructive"`
	// Timeout bounds the step. Default 5m.
	Timeout Duration `yaml:"timeout"`
}

func (m *Migrations) applyDefaults(d defaulter, path string) {
	for _, v := range slices.Sorted(mapsKeys(m.Versions)) {
		vm := m.Versions[v]
		for _, st := range []struct {
			s    *MigrationStep
			name string
		}{{vm.Expand, "expand"}, {vm.Contract, "contract"}} {
			if st.s != nil {
				d.duration(&st.s.Timeout, joinPath(path+".versions", v)+"."+st.name+".timeout", 5*time.Minute)
			}
		}
	}
}

func (m *Migrations) resolvePaths(c *Config) {
	if m.Database.URLFile != "" {
		m.Database.URLFile = c.abs(m.Database.URLFile)
	}
	for _, vm := range m.Versions {
		for _, st := range []*MigrationStep{vm.Expand, vm.Contract} {
			if st != nil && st.SQL != "" {
				st.SQL = c.abs(st.SQL)
			}
		}
	}
}

func (c *checker) migrations(m *Migrations, path string) {
	switch db := m.Database; {
	case db.URLEnv == "" && db.URLFile == "":
		c.add(path+".database", "database needs urlEnv (an environment variable) or urlFile holding its URL; the URL itself is never written in the config")
	case db.URLEnv != "" && db.URLFile != "":
		c.add(path+".database.urlFile", "set only one of urlEnv and urlFile")
	}
	for _, v := range slices.Sorted(mapsKeys(m.Versions)) {
		vp := joinPath(path+".versions", v)
		if err := checkVersion(v); err != nil {
			c.add(vp, "%v", err)
		}
		vm := m.Versions[v]
		if vm.Expand == nil && vm.Contract == nil {
			c.add(vp, "a version's migrations need expand, contract or both")
		}
		c.migrationStep(vm.Expand, vp+".expand", true)
		c.migrationStep(vm.Contract, vp+".contract", false)
	}
}

func (c *checker) migrationStep(s *MigrationStep, path string, expand bool) {
	if s == nil {
		return
	}
	switch {
	case s.SQL == "" && len(s.Command) == 0:
		c.add(path, "a migration step needs sql (a file) or command")
	case s.SQL != "" && len(s.Command) > 0:
		c.add(path+".command", "set only one of sql and command")
	case len(s.Command) > 0 && s.Command[0] == "":
		c.add(path+".command", "the command's program is empty")
	case s.SQL != "":
		b, err := os.ReadFile(s.SQL)
		if err != nil {
			c.add(path+".sql", "%v", err)
		} else if expand && !s.AllowDestructive {
			for _, f := range guard.Check(string(b)) {
				c.add(path+".sql", "%s:%s: %s — an expand must leave the schema usable by the old version; move it to contract, or set allowDestructive: true",
					s.SQL, f.Pos(), f)
			}
		}
	}
	if !expand && s.AllowDestructive {
		c.add(path+".allowDestructive", "allowDestructive is for expand steps: a contract may always remove")
	}
	c.positive(s.Timeout, path+".timeout", "5m")
}
