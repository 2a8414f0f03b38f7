package sampleapp

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// migrations is the example's SQL, which the scenario applies in order.
var migrations = filepath.Join("..", "..", "examples", "migrations", "profiles")

// apply runs the example's SQL file name on db.
func apply(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(migrations, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(b)); err != nil {
		t.Fatalf("applying %s: %v", name, err)
	}
}

// serve starts the app of schema over db as a real HTTP server.
func serve(t *testing.T, db *sql.DB, schema Schema) string {
	t.Helper()
	a := newApp(options{port: 9001, version: string(schema), schema: schema})
	a.profiles = &Profiles{DB: db, Schema: schema}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends one request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, method, url, contentType, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(bytes.NewReader(b)).Decode(out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func create(t *testing.T, base, name string) Profile {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	var p Profile
	if code := call(t, "POST", base+"/profiles", "application/json", string(body), &p); code != http.StatusCreated {
		t.Fatalf("POST /profiles %q: %d, want 201", name, code)
	}
	return p
}

func ptr(s string) *string { return &s }

func TestProfilesV1(t *testing.T) {
	db := pgtest.New(t).DB(t)
	apply(t, db, "v1.sql")
	base := serve(t, db, SchemaV1)

	ada := create(t, base, "Ada Lovelace")
	if want := (Profile{ID: ada.ID, Name: "Ada Lovelace"}); !reflect.DeepEqual(ada, want) {
		t.Fatalf("created %+v, want %+v", ada, want)
	}
	var grace Profile
	if code := call(t, "POST", base+"/profiles", "application/x-www-form-urlencoded", url.Values{"name": {"Grace Brewster Hopper"}}.Encode(), &grace); code != 201 {
		t.Fatalf("POST form: %d", code)
	}
	var renamed Profile
	if code := call(t, "PUT", base+"/profiles/"+itoa(ada.ID), "application/json", `{"name":"Augusta Ada King"}`, &renamed); code != 200 || renamed.Name != "Augusta Ada King" {
		t.Fatalf("PUT: %d %+v", code, renamed)
	}
	var got Profile
	if code := call(t, "GET", base+"/profiles/"+itoa(grace.ID), "", "", &got); code != 200 || got.Name != "Grace Brewster Hopper" {
		t.Fatalf("GET: %d %+v", code, got)
	}
	var list []Profile
	call(t, "GET", base+"/profiles", "", "", &list)
	want := []Profile{{ID: ada.ID, Name: "Augusta Ada King"}, {ID: grace.ID, Name: "Grace Brewster Hopper"}}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("list = %+v, want %+v", list, want)
	}
	// What the table holds, read without the app.
	rows := tableRows(t, db, `SELECT id, name FROM profiles ORDER BY id`)
	if want := [][]string{{itoa(ada.ID), "Augusta Ada King"}, {itoa(grace.ID), "Grace Brewster Hopper"}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("table = %v, want %v", rows, want)
	}

	for _, tc := range []struct {
		method, path, ctype, body string
		want                      int
	}{
		{"GET", "/profiles/999", "", "", 404},
		{"PUT", "/profiles/999", "application/json", `{"name":"x"}`, 404},
		{"GET", "/profiles/abc", "", "", 400},
		{"POST", "/profiles", "application/json", `{"name":"  "}`, 400},
		{"POST", "/profiles", "application/json", `{"name":`, 400},
		{"POST", "/profiles", "application/json", `{"name":"` + strings.Repeat("x", 201) + `"}`, 400},
		{"POST", "/profiles", "", "", 400},
	} {
		if code := call(t, tc.method, base+tc.path, tc.ctype, tc.body, nil); code != tc.want {
			t.Errorf("%s %s %q: %d, want %d", tc.method, tc.path, tc.body, code, tc.want)
		}
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("%d rows after the refused requests, want 2", n)
	}
	// GET / answers as without --db.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "version=v1 instance=9001\n" {
		t.Fatalf("GET / = %q", b)
	}
}

// Both versions serve over the expanded schema: each reads what the
// other wrote, renames included, and the table holds both shapes.
func TestProfilesV1AndV2OverExpandedSchema(t *testing.T) {
	db := pgtest.New(t).DB(t)
	apply(t, db, "v1.sql")
	v1 := serve(t, db, SchemaV1)
	old := create(t, v1, "Edsger Wybe Dijkstra") // before the expand
	apply(t, db, "v2-expand.sql")
	v2 := serve(t, db, SchemaV2)

	byV1 := create(t, v1, "  Alan Turing ")
	if byV1.Name != "Alan Turing" {
		t.Fatalf("v1 created %+v, want the name trimmed", byV1)
	}
	byV2 := create(t, v2, "Barbara Liskov")
	single := create(t, v2, "Cher")
	if want := (Profile{ID: byV2.ID, Name: "Barbara Liskov", FirstName: ptr("Barbara"), LastName: ptr("Liskov")}); !reflect.DeepEqual(byV2, want) {
		t.Fatalf("v2 created %+v, want %+v", byV2, want)
	}
	// Renames from either side.
	call(t, "PUT", v2+"/profiles/"+itoa(byV1.ID), "application/json", `{"name":"Alan Mathison Turing"}`, nil)
	call(t, "PUT", v1+"/profiles/"+itoa(byV2.ID), "application/json", `{"name":"Barbara Jane Liskov"}`, nil)

	var fromV1, fromV2 []Profile
	call(t, "GET", v1+"/profiles", "", "", &fromV1)
	call(t, "GET", v2+"/profiles", "", "", &fromV2)
	wantV1 := []Profile{
		{ID: old.ID, Name: "Edsger Wybe Dijkstra"}, {ID: byV1.ID, Name: "Alan Mathison Turing"},
		{ID: byV2.ID, Name: "Barbara Jane Liskov"}, {ID: single.ID, Name: "Cher"},
	}
	if !reflect.DeepEqual(fromV1, wantV1) {
		t.Fatalf("v1 reads %+v, want %+v", fromV1, wantV1)
	}
	wantV2 := []Profile{
		{ID: old.ID, Name: "Edsger Wybe Dijkstra", FirstName: ptr("Edsger"), LastName: ptr("Wybe Dijkstra")},
		{ID: byV1.ID, Name: "Alan Mathison Turing", FirstName: ptr("Alan"), LastName: ptr("Mathison Turing")},
		{ID: byV2.ID, Name: "Barbara Jane Liskov", FirstName: ptr("Barbara"), LastName: ptr("Jane Liskov")},
		{ID: single.ID, Name: "Cher", FirstName: ptr("Cher"), LastName: ptr("")},
	}
	if !reflect.DeepEqual(fromV2, wantV2) {
		t.Fatalf("v2 reads %+v, want %+v", fromV2, wantV2)
	}
}

// /healthz fails while the columns a version needs are missing, so an
// incompatible schema shows in readiness and smoke tests.
func TestHealthFollowsTheSchema(t *testing.T) {
	db := pgtest.New(t).DB(t)
	v1, v2 := serve(t, db, SchemaV1), serve(t, db, SchemaV2)
	health := func(base string) int { return call(t, "GET", base+"/healthz", "", "", nil) }
	steps := []struct {
		apply  string
		v1, v2 int
	}{
		{"", 503, 503}, // no table
		{"v1.sql", 200, 503},
		{"v2-expand.sql", 200, 200},
		{"v2-contract.sql", 503, 200},
	}
	for _, s := range steps {
		if s.apply != "" {
			apply(t, db, s.apply)
		}
		if got1, got2 := health(v1), health(v2); got1 != s.v1 || got2 != s.v2 {
			t.Errorf("after %q: /healthz v1 %d, v2 %d; want %d, %d", s.apply, got1, got2, s.v1, s.v2)
		}
	}
	// The rename of the breaking expand is the same failure for v1.
	db2 := pgtest.New(t).DB(t)
	apply(t, db2, "v1.sql")
	apply(t, db2, "v2-expand-breaking.sql")
	if code := health(serve(t, db2, SchemaV1)); code != 503 {
		t.Errorf("v1 over the breaking expand: /healthz %d, want 503", code)
	}
}

func TestSplitJoinName(t *testing.T) {
	for _, n := range []string{"Ada Lovelace", "Ada", "", " Ada", "A  B", "Ada King Lovelace"} {
		f, l := SplitName(n)
		if strings.Contains(f, " ") {
			t.Errorf("SplitName(%q) first %q has a space", n, f)
		}
		if got := JoinName(f, l); got != n {
			t.Errorf("JoinName(SplitName(%q)) = %q", n, got)
		}
	}
}

func tableRows(t *testing.T, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
			if !v.Valid {
				row[i] = "NULL"
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM profiles`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
