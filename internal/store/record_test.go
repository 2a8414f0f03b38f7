package store_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the current format version")

// TestStoredFormMapsEveryField pins that the stored form carries every
// field of the engine's rollout and event: storetest.FullRollout sets
// all of them, so a field added to the engine and not to the stored form
// comes back zero and fails here. (The engine's structs were stored
// as-is before format version 1, and nothing caught a dropped field.)
func TestStoredFormMapsEveryField(t *testing.T) {
	r := storetest.FullRollout()
	doc, err := store.EncodeRollout(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.DecodeRollout(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("rollout after a round trip through the stored form:\n got %+v\nwant %+v", got, r)
	}
	ev := storetest.FullEvent()
	if doc, err = store.EncodeEvent(ev); err != nil {
		t.Fatal(err)
	}
	gotEv, err := store.DecodeEvent(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotEv, ev) {
		t.Errorf("event after a round trip through the stored form:\n got %+v\nwant %+v", gotEv, ev)
	}
}

// TestStoredFormGolden pins the encoding of format version 1: a changed
// name or type of a stored field fails here, and must come with a new
// format version that still reads this one. Regenerate only for a new
// version: go test ./internal/store -run Golden -update.
func TestStoredFormGolden(t *testing.T) {
	r, ev := storetest.FullRollout(), storetest.FullEvent()
	rdoc, err := store.EncodeRollout(r)
	if err != nil {
		t.Fatal(err)
	}
	edoc, err := store.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "rollout-v1.json", rdoc)
	golden(t, "event-v1.json", edoc)
}

func golden(t *testing.T, name string, doc []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("stored form differs from %s:\n got %s\nwant %s", path, pretty.Bytes(), want)
	}
}

// TestStoredFormReadsVersion0 decodes the documents the stores wrote
// before stored forms had a version (made by that code from
// storetest.FullRollout and FullEvent) and gets every field back.
func TestStoredFormReadsVersion0(t *testing.T) {
	rdoc, edoc := storetest.V0Docs()
	want, wantEv := storetest.V0Want()
	r, err := store.DecodeRollout(rdoc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("version 0 rollout decoded:\n got %+v\nwant %+v", r, want)
	}
	ev, err := store.DecodeEvent(edoc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev, wantEv) {
		t.Errorf("version 0 event decoded:\n got %+v\nwant %+v", ev, wantEv)
	}
}

// TestStoredFormRefusesNewer: a document of a format this bluejay does
// not know is an error, not a rollout with the unknown fields dropped.
func TestStoredFormRefusesNewer(t *testing.T) {
	_, err := store.DecodeRollout([]byte(`{"v":99,"id":3,"service":"web"}`))
	if err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Errorf("decoding a rollout of format 99: err = %v, want one naming the format", err)
	}
	_, err = store.DecodeEvent([]byte(`{"v":2,"id":3}`))
	if err == nil || !strings.Contains(err.Error(), "format version 2") {
		t.Errorf("decoding an event of format 2: err = %v, want one naming the format", err)
	}
}
