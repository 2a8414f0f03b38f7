package sampleapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Schema is the shape of the profiles table a version of the app reads
// and writes: the seed's expand/contract story, name → first and last.
type Schema string

const (
	// SchemaV1 reads and writes profiles(id, name).
	SchemaV1 Schema = "v1"
	// SchemaV2 reads and writes profiles(id, first_name, last_name): a
	// name is split on its first space, and joined back with one.
	SchemaV2 Schema = "v2"
)

// Profile is one row of profiles as the app answers it. Name is always
// set (v2 joins it); FirstName and LastName only by a v2 app.
type Profile struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
}

// ErrNotFound is Profiles.Get's error for an id with no row.
var ErrNotFound = errors.New("no such profile")

// maxName bounds a name's length, in bytes.
const maxName = 200

// SplitName splits a full name on its first space: "Ada King Lovelace"
// → "Ada", "King Lovelace"; "Ada" → "Ada", "". JoinName undoes it.
func SplitName(name string) (first, last string) {
	first, last, _ = strings.Cut(name, " ")
	return first, last
}

// JoinName joins first and last with a space, or returns first alone
// when last is empty: JoinName(SplitName(n)) == n for every n that does
// not end in a space (the app trims the names it is given).
func JoinName(first, last string) string {
	if last == "" {
		return first
	}
	return first + " " + last
}

// Profiles reads and writes the profiles table in one schema's shape.
// It never changes the schema: that is the migrations' job.
type Profiles struct {
	DB     *sql.DB
	Schema Schema
}

// Check fails unless the table has the columns this schema needs, so
// that a version facing a schema it cannot use is not ready.
func (p Profiles) Check(ctx context.Context) error {
	q := `SELECT id, name FROM profiles LIMIT 0`
	if p.Schema == SchemaV2 {
		q = `SELECT id, first_name, last_name FROM profiles LIMIT 0`
	}
	rows, err := p.DB.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("profiles table unusable by schema %s: %w", p.Schema, err)
	}
	return rows.Close()
}

// Create inserts a profile named name and returns it.
func (p Profiles) Create(ctx context.Context, name string) (Profile, error) {
	var id int64
	var err error
	if p.Schema == SchemaV2 {
		first, last := SplitName(name)
		err = p.DB.QueryRowContext(ctx, `INSERT INTO profiles (first_name, last_name) VALUES ($1, $2) RETURNING id`, first, last).Scan(&id)
	} else {
		err = p.DB.QueryRowContext(ctx, `INSERT INTO profiles (name) VALUES ($1) RETURNING id`, name).Scan(&id)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("creating a profile: %w", err)
	}
	return p.Get(ctx, id)
}

// Update renames profile id and returns it; ErrNotFound if there is none.
func (p Profiles) Update(ctx context.Context, id int64, name string) (Profile, error) {
	var res sql.Result
	var err error
	if p.Schema == SchemaV2 {
		first, last := SplitName(name)
		res, err = p.DB.ExecContext(ctx, `UPDATE profiles SET first_name = $2, last_name = $3 WHERE id = $1`, id, first, last)
	} else {
		res, err = p.DB.ExecContext(ctx, `UPDATE profiles SET name = $2 WHERE id = $1`, id, name)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("updating profile %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return Profile{}, ErrNotFound
	}
	return p.Get(ctx, id)
}

// selectCols are the columns a schema reads, in scan order.
func (p Profiles) selectCols() string {
	if p.Schema == SchemaV2 {
		return `id, first_name, last_name`
	}
	return `id, name`
}

// scan reads one row of selectCols. A v2 row whose names are NULL (not
// written yet, which the expand's backfill and trigger should prevent)
// is an error rather than a silently empty name.
func (p Profiles) scan(row interface{ Scan(...any) error }) (Profile, error) {
	var pr Profile
	if p.Schema == SchemaV2 {
		var first, last sql.NullString
		if err := row.Scan(&pr.ID, &first, &last); err != nil {
			return pr, err
		}
		if !first.Valid || !last.Valid {
			return pr, fmt.Errorf("profile %d has no first_name or last_name", pr.ID)
		}
		pr.FirstName, pr.LastName = &first.String, &last.String
		pr.Name = JoinName(first.String, last.String)
		return pr, nil
	}
	err := row.Scan(&pr.ID, &pr.Name)
	return pr, err
}

// Get reads profile id; ErrNotFound if there is none.
func (p Profiles) Get(ctx context.Context, id int64) (Profile, error) {
	pr, err := p.scan(p.DB.QueryRowContext(ctx, `SELECT `+p.selectCols()+` FROM profiles WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Profile{}, ErrNotFound
	}
	if err != nil {
		return Profile{}, fmt.Errorf("reading profile %d: %w", id, err)
	}
	return pr, nil
}

// List reads every profile, by id.
func (p Profiles) List(ctx context.Context) ([]Profile, error) {
	rows, err := p.DB.QueryContext(ctx, `SELECT `+p.selectCols()+` FROM profiles ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing profiles: %w", err)
	}
	defer rows.Close()
	out := []Profile{}
	for rows.Next() {
		pr, err := p.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing profiles: %w", err)
		}
		out = append(out, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing profiles: %w", err)
	}
	return out, nil
}

// dbTimeout bounds one request's database work.
const dbTimeout = 5 * time.Second

// profileRoutes adds the profiles API to mux.
func (a *app) profileRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /profiles", a.createProfile)
	mux.HandleFunc("GET /profiles", a.listProfiles)
	mux.HandleFunc("GET /profiles/{id}", a.getProfile)
	mux.HandleFunc("PUT /profiles/{id}", a.updateProfile)
}

func (a *app) createProfile(w http.ResponseWriter, r *http.Request) {
	name, ok := readName(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	pr, err := a.profiles.Create(ctx, name)
	if err != nil {
		a.dbError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, pr)
}

func (a *app) updateProfile(w http.ResponseWriter, r *http.Request) {
	id, ok := profileID(w, r)
	if !ok {
		return
	}
	name, ok := readName(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	pr, err := a.profiles.Update(ctx, id, name)
	if err != nil {
		a.dbError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

func (a *app) getProfile(w http.ResponseWriter, r *http.Request) {
	id, ok := profileID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	pr, err := a.profiles.Get(ctx, id)
	if err != nil {
		a.dbError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

func (a *app) listProfiles(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	prs, err := a.profiles.List(ctx)
	if err != nil {
		a.dbError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, prs)
}

// dbError answers 404 for ErrNotFound and 500 otherwise.
func (a *app) dbError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	http.Error(w, fmt.Sprintf("%s (schema %s)", err, a.opts.schema), http.StatusInternalServerError)
}

// profileID reads the {id} path value, answering 400 if it is not one.
func profileID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "profile id: want a positive integer", http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

// readName reads the name from a JSON body {"name": "..."} or a form
// (name=...), trimmed of surrounding white space, answering 400 when it
// is missing, empty or too long.
func readName(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	var name string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "body: want JSON {\"name\": \"...\"}: "+err.Error(), http.StatusBadRequest)
			return "", false
		}
		name = body.Name
	} else {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "form: "+err.Error(), http.StatusBadRequest)
			return "", false
		}
		name = r.PostForm.Get("name")
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		http.Error(w, "name is required", http.StatusBadRequest)
		return "", false
	case len(name) > maxName:
		http.Error(w, fmt.Sprintf("name longer than %d bytes", maxName), http.StatusBadRequest)
		return "", false
	}
	return name, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
