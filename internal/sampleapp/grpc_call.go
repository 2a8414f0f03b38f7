package sampleapp

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// callTimeout bounds one Echo/Say call of the --call mode.
const callTimeout = 2 * time.Second

// tally counts the --call mode's calls by version and by failure.
type tally struct {
	calls     int
	byVersion map[string]int // answers, by the version that gave them
	failed    map[string]int // failed calls, by status code
}

func (t *tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "calls=%d ok=%d failed=%d", t.calls, t.calls-sum(t.failed), sum(t.failed))
	for _, v := range slices.Sorted(maps.Keys(t.byVersion)) {
		fmt.Fprintf(&b, " %s=%d", v, t.byVersion[v])
	}
	for _, c := range slices.Sorted(maps.Keys(t.failed)) {
		fmt.Fprintf(&b, " %s=%d", c, t.failed[c])
	}
	return b.String()
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// callLoop is the --call mode: Echo/Say on addr (through bluejay's h2c
// listener) rps times a second until duration passes (0: until ctx ends),
// a summary line on out every second and at the end.
func callLoop(ctx context.Context, addr string, rps int, duration time.Duration, out io.Writer) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	// Calls run under base, not under --duration's deadline: a call made
	// just before the end would carry that deadline to the server
	// (grpc-timeout) and come back DEADLINE_EXCEEDED a moment before the
	// run itself is seen to end, counted as a failure of the version.
	base := ctx
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	t := &tally{byVersion: map[string]int{}, failed: map[string]int{}}
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, t)
			return nil
		case <-report.C:
			fmt.Fprintln(out, t)
		case <-tick.C:
			t.add(sayOnce(base, ctx, conn))
		}
	}
}

// sayOnce makes one call under base and returns the version that
// answered, or the failure's status code; nothing when run ended
// meanwhile.
func sayOnce(base, run context.Context, conn *grpc.ClientConn) (version, failure string) {
	cctx, cancel := context.WithTimeout(base, callTimeout)
	defer cancel()
	answer, err := Say(cctx, conn, "hello")
	if err != nil {
		if run.Err() != nil {
			return "", "" // the run ended mid-call: not counted
		}
		return "", router.GRPCCodeName(uint64(status.Code(err)))
	}
	version, _, _ = strings.Cut(strings.TrimPrefix(answer, "version="), " ")
	return version, ""
}

func (t *tally) add(version, failure string) {
	switch {
	case failure != "":
		t.calls++
		t.failed[failure]++
	case version != "":
		t.calls++
		t.byVersion[version]++
	}
}
