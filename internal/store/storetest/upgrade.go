package storetest

import (
	"context"
	_ "embed" // the version 0 documents
	"reflect"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// The documents the stores wrote before stored forms had a version
// (format version 0: the engine's structs as JSON), made by that code
// from FullRollout and FullEvent: rollout 1 of service "s3", in phase
// Progressing, with its event 1. Never regenerate them.
var (
	//go:embed testdata/rollout-v0.json
	rolloutV0 []byte
	//go:embed testdata/event-v0.json
	eventV0 []byte
)

// V0Docs returns the stored documents of a version 0 rollout and event.
func V0Docs() (rollout, event []byte) { return rolloutV0, eventV0 }

// AddedAfterV0 are the fields (TypeName.Field) the engine's types gained
// after format version 0: a version 0 document has none of them, so they
// read back zero. A field added to engine.Rollout or engine.Event must be
// listed here (or TestStoredFormReadsVersion0 fails).
var AddedAfterV0 = map[string]bool{
	"Rollout.Before":             true,
	"Rollout.StepVerdicts":       true,
	"Rollout.BackgroundVerdicts": true,
	"Params.CompleteOnNoTraffic": true,
}

// V0Want returns what V0Docs must read back as.
func V0Want() (engine.Rollout, engine.Event) {
	var r engine.Rollout
	fillExcept(&r, AddedAfterV0)
	r.ID, r.Phase = 1, engine.PhaseProgressing
	var ev engine.Event
	fillExcept(&ev, AddedAfterV0)
	ev.ID, ev.RolloutID, ev.Service, ev.Phase = 1, 1, r.Service, engine.PhaseProgressing
	return r, ev
}

// CheckReadsV0 checks that s, holding V0Docs as written by the previous
// format, reads the rollout and its event back whole, and carries the
// rollout on: an update is written and read back.
func CheckReadsV0(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	want, wantEv := V0Want()
	got, err := s.Rollout(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rollout(1) of a version 0 store:\n got %+v\nwant %+v", got, want)
	}
	list, err := s.ListRollouts(ctx, want.Service, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("ListRollouts of a version 0 store:\n got %+v\nwant [%+v]", list, want)
	}
	evs, err := s.ListEvents(ctx, want.Service, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], wantEv) {
		t.Errorf("ListEvents of a version 0 store:\n got %+v\nwant [%+v]", evs, wantEv)
	}
	next := got
	next.Phase, next.Step = engine.PhaseCompleted, got.Step+1
	next.Ended = T0.UTC().Add(time.Hour)
	if err := s.UpdateRollout(ctx, next, nil); err != nil {
		t.Fatalf("updating the version 0 rollout: %v", err)
	}
	if got, err = s.Rollout(ctx, 1); err != nil || !reflect.DeepEqual(got, next) {
		t.Errorf("the version 0 rollout after an update:\n got %+v, %v\nwant %+v", got, err, next)
	}
}
