package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/pgtest"
)

// profile is the sample app's JSON profile.
type profile struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	FirstName *string `json:"first_name"`
}

// TestSchemaSafeScenario is the seed's one-way door, closed: schema v1
// {name} → v2 {first_name, last_name} with the expand/contract files of
// examples/migrations/profiles. v2's expand runs before it starts; v1 and
// v2 serve sticky users side by side, each writing in its own shape; the
// canary fails and rolls back, and v1 still reads every profile,
// including those v2 wrote. A later, healthy v2.1 completes; contract is
// refused while v1 is warm, then drops name — no row lost.
func TestSchemaSafeScenario(t *testing.T) {
	c := pgtest.New(t)
	url := c.NewDatabase(t, "profiles")
	db := pgtest.Open(t, url)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	sqlDir := filepath.Join(root, "examples", "migrations", "profiles")
	v1sql, err := os.ReadFile(filepath.Join(sqlDir, "v1.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(v1sql)); err != nil {
		t.Fatalf("schema v1: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO profiles (name) VALUES ('Ada Lovelace'), ('Alan Turing'), ('Grace Hopper')`); err != nil {
		t.Fatal(err)
	}
	urlFile := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(urlFile, []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	expand, contract := filepath.Join(sqlDir, "v2-expand.sql"), filepath.Join(sqlDir, "v2-contract.sql")

	o := canaryOptions(`
analysis: t
abortScaleDownDelay: 1s
scaleDownDelay: 1s
steps:
  - setWeight: 50
  - analysis: {template: t, duration: 3s}
  - setWeight: 100`, errorRateTemplate(20))
	o.appArgs = []string{"--db-env", "DATABASE_URL"}
	o.env = fmt.Sprintf("{DATABASE_URL: %q}", url)
	o.service = fmt.Sprintf(`sticky: {cookie: u}
migrations:
  database: {urlFile: %q}
  versions:
    v2: {expand: {sql: %q}, contract: {sql: %q}}
    v2.1: {expand: {sql: %q}, contract: {sql: %q}}
`, urlFile, expand, contract, expand, contract)
	s := startServer(t, o)

	// v2 (which fails half of its / requests) starts only after its expand.
	dep := s.cliBackground(deployCanary("v2", true, "--schema", "v2", "--error-rate", "0.5")...)
	s.waitStatus("v2 at 50%", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Weights["v2"] == 50
	})

	// Sticky users write profiles: each lands on its version, which writes
	// in its own shape.
	written := map[string]string{} // name → version that wrote it
	for i := range 40 {
		name := fmt.Sprintf("User%d Number%d", i, i)
		v := postProfile(t, s.proxy, fmt.Sprintf("user-%d", i), name)
		written[name] = v
	}
	byVersion := map[string]int{}
	for _, v := range written {
		byVersion[v]++
	}
	t.Logf("profiles written during the canary, by version: %v", byVersion)
	if byVersion["v2"] == 0 || byVersion["v1"] == 0 {
		t.Fatalf("profiles written by %v: want both versions to have written some", byVersion)
	}

	// Traffic on / shows v2's errors: it is rolled back.
	l := startLoadEvery(t, s.proxy, 10*time.Millisecond)
	if r, _ := dep.waitFor(60 * time.Second); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("the failing canary: want exit 1 and RolledBack, got:\n%s", r)
	}
	s.waitStatus("the rollback applied", 10*time.Second, func(st status) bool { return st.Weights["v2"] == 0 })

	// v1 reads every profile, including those v2 wrote.
	all := listProfiles(t, s.proxy, "v1")
	if len(all) != 3+len(written) {
		t.Fatalf("after the rollback v1 lists %d profiles, want %d", len(all), 3+len(written))
	}
	seen := map[string]bool{}
	for _, p := range all {
		seen[p.Name] = true
	}
	for name, v := range written {
		if !seen[name] {
			t.Errorf("after the rollback v1 does not read %q (written by %s)", name, v)
		}
	}

	// A fixed v2.1 completes (its expand is idempotent).
	if r := s.cli(deployCanary("v2.1", true, "--schema", "v2")...); r.code != 0 {
		t.Fatalf("deploy of a healthy v2.1: want exit 0, got:\n%s", r)
	}
	if r := s.cli("contract", "web"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "still possible") {
		t.Errorf("contract while v1 is warm: want it refused, got:\n%s", r)
	}
	if _, err := db.Exec("SELECT name FROM profiles"); err != nil {
		t.Fatalf("a refused contract dropped name: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.cli("contract", "web")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(r.stdout+r.stderr, "still possible") {
			t.Fatalf("contract once v1 was stopped: %s", r)
		}
		time.Sleep(100 * time.Millisecond) // until v1's scale-down delay passed
	}
	for {
		var gone bool
		if _, err := db.Exec("SELECT name FROM profiles"); err != nil {
			gone = true
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			rows, _ := pgtest.Open(t, c.URL()).Query(`SELECT pid, state, wait_event_type, coalesce(query, '') FROM pg_stat_activity WHERE datname IS NOT NULL`)
			var act strings.Builder
			for rows != nil && rows.Next() {
				var pid int
				var st, w, q sql.NullString
				rows.Scan(&pid, &st, &w, &q)
				fmt.Fprintf(&act, "%d %s %s %.120s\n", pid, st.String, w.String, q.String)
			}
			t.Fatalf("contract never dropped profiles.name; sessions:\n%s\nthe decision log:\n%s", act.String(), s.cli("events", "web").stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM profiles WHERE first_name IS NOT NULL").Scan(&n); err != nil || n != 3+len(written) {
		t.Errorf("after contract %d profiles with first_name (%v), want %d: rows lost", n, err, 3+len(written))
	}
	if got := listProfiles(t, s.proxy, "v2.1"); len(got) != 3+len(written) {
		t.Errorf("after contract v2.1 lists %d profiles, want %d", len(got), 3+len(written))
	}
	l.stop()
}

// postProfile creates a profile as the sticky user key and returns the
// version that served it.
func postProfile(t *testing.T, proxy, key, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+proxy+"/profiles", strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "u", Value: key})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /profiles as %s: %s", key, resp.Status)
	}
	return resp.Header.Get("X-Bluejay-Version")
}

// listProfiles lists the profiles through the proxy, which must be
// served by version.
func listProfiles(t *testing.T, proxy, version string) []profile {
	t.Helper()
	resp, err := http.Get("http://" + proxy + "/profiles")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("X-Bluejay-Version"); resp.StatusCode != 200 || got != version {
		t.Fatalf("GET /profiles: %s from %q, want 200 from %s", resp.Status, got, version)
	}
	var out []profile
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET /profiles: %v", err)
	}
	return out
}
