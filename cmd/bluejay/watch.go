package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// watchInterval is how often status -w asks the admin API.
const watchInterval = 500 * time.Millisecond

// Terminal control: home the cursor and clear to the end of the screen,
// so that each frame replaces the last one in place; clear the whole
// screen once before the first.
const (
	ansiClearScreen = "\x1b[2J\x1b[H"
	ansiRedraw      = "\x1b[H\x1b[J"
)

// watch follows service's latest rollout until it ends: on a terminal it
// redraws a frame in place at every poll; otherwise it prints one plain
// line each time something a person would act on changes (phase, step,
// weights, a verdict, readiness). It returns nil if the rollout
// completed, a failedError if it ended otherwise or the watch was
// interrupted.
func watch(ctx context.Context, c *api.Client, service string, out io.Writer, tty bool) error {
	st, err := c.Service(ctx, service)
	if err != nil {
		return err
	}
	id := st.Rollout.ID
	w := &watcher{out: out, tty: tty}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		w.show(st, time.Now())
		if st.Rollout.ID != id || st.Rollout.Phase.Terminal() {
			return outcome(st.Rollout)
		}
		select {
		case <-ctx.Done():
			return failedError{msg: fmt.Sprintf("stopped watching rollout #%d (%s)", id, st.Rollout.Phase)}
		case <-t.C:
		}
		next, err := c.Service(ctx, service)
		var apiErr *api.Error
		switch {
		case errors.As(err, &apiErr):
			return err // a wrong token or service will not fix itself
		case err != nil && ctx.Err() == nil:
			w.unreachable(err) // serve restarting: keep trying
			continue
		case err != nil:
			continue // interrupted: the select above returns
		}
		st = next
	}
}

// watcher draws what status -w shows.
type watcher struct {
	out     io.Writer
	tty     bool
	drawn   bool   // a frame is on the screen
	lastKey string // what the last plain line said, less the numbers that always move
	lastErr string
}

func (w *watcher) show(st controller.ServiceStatus, now time.Time) {
	w.lastErr = ""
	if w.tty {
		var b strings.Builder
		b.WriteString(ansiRedraw)
		if !w.drawn {
			b.Reset()
			b.WriteString(ansiClearScreen)
		}
		renderFrame(&b, st, now, true)
		io.WriteString(w.out, b.String())
		w.drawn = true
		return
	}
	if key := plainKey(st); key != w.lastKey {
		w.lastKey = key
		fmt.Fprintln(w.out, plainLine(st, now))
	}
}

// unreachable reports a failed poll once, until a poll succeeds.
func (w *watcher) unreachable(err error) {
	if msg := err.Error(); msg != w.lastErr {
		w.lastErr = msg
		fmt.Fprintf(w.out, "%s  (retrying) %s\n", time.Now().Format("15:04:05"), msg)
	}
}

// isTerminal reports whether f is a terminal (a character device that is
// not /dev/null), where status -w redraws in place.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// renderFrame writes the full picture of a service's rollout: header,
// one weight bar per version, the canary's steps, the analyses under way
// with canary vs baseline numbers. color adds ANSI colours to phases
// and verdicts.
func renderFrame(w io.Writer, st controller.ServiceStatus, now time.Time, color bool) {
	r := st.Rollout
	pc := func(s string) string { return paint(color, phaseColor(r.Phase), s) }
	fmt.Fprintf(w, "Service:       %s (stable %s)\n", st.Service, orNone(st.Stable))
	fmt.Fprintf(w, "Rollout:       #%d %s → %s, %s\n", r.ID, orNone(r.From.Label), r.To.Label, r.Strategy)
	fmt.Fprintf(w, "Phase:         %s\n", strings.TrimSpace(pc(phaseSymbol(r.Phase)+" "+string(r.Phase))+" "+stepText(r)))
	fmt.Fprintf(w, "Reason:        %s\n", r.Reason)
	fmt.Fprintf(w, "Elapsed:       %s (in phase %s)\n", elapsed(r, now), since(r.PhaseSince, r, now))
	fmt.Fprintf(w, "Blast radius:  %s\n", blast(st))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "TRAFFIC")
	for _, v := range versions(st) {
		fmt.Fprintf(w, "  %-*s %-8s %s %3d%%  %s\n", labelWidth(st), v.label, v.role, bar(v.weight, 30), v.weight, v.ready)
	}
	if steps := r.Params.Steps; r.Strategy == engine.StrategyCanary && len(steps) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "STEPS")
		for i, s := range steps {
			mark := "·"
			switch {
			case i < r.Step || r.Phase == engine.PhaseCompleted:
				mark = "✔"
			case i == r.Step && r.Phase.Active():
				mark = paint(color, phaseColor(r.Phase), "▶")
			case i == r.Step && r.Phase.Terminal():
				mark = paint(color, phaseColor(r.Phase), "✖") // the step the rollout ended in
			}
			fmt.Fprintf(w, "  %s %2d  %s\n", mark, i+1, s)
		}
	}
	if r.Strategy == engine.StrategyBlueGreen && r.Phase.Active() {
		fmt.Fprintf(w, "\nPHASES        %s\n", blueGreenPhases(r, color))
	}
	if r.Strategy == engine.StrategyRolling && r.Phase.Active() {
		fmt.Fprintf(w, "\nBATCHES        new %s: %d of %d, old %s: %d\n", r.To.Label, r.NewCount, r.Params.Replicas, orNone(r.From.Label), r.OldCount)
	}
	for _, a := range st.Analyses {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "ANALYSIS %s %s: %s vs %s for %s, %s, last %s%s\n", a.Kind, a.Template, a.Canary, a.Baseline,
			since(a.Since, r, now), plural(int64(a.Intervals), "verdict"), paint(color, verdictColor(a.Verdict), orDash(a.Verdict)), limits(a))
		width := 0
		for _, m := range a.Metrics {
			width = max(width, len(m.Metric))
		}
		for _, m := range a.Metrics {
			fmt.Fprintf(w, "  %-*s  %s  %s\n", width, m.Metric, paint(color, verdictColor(string(m.Verdict)), fmt.Sprintf("%-12s", m.Verdict)), metricDetail(m.Metric, string(m.Verdict), m.Reason))
		}
	}
}

// plainKey is what a plain line reports, less the numbers that move on
// every poll (elapsed time, exposure, the reason's progress): a new line
// is printed only when it changes.
func plainKey(st controller.ServiceStatus) string {
	r := st.Rollout
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %d %s", r.ID, r.Phase, r.Step, weightText(st))
	for _, a := range st.Analyses {
		fmt.Fprintf(&b, " %s:%s:%d", a.Kind, a.Verdict, a.Failures)
	}
	for _, v := range versions(st) {
		fmt.Fprintf(&b, " %s:%s", v.label, v.ready)
	}
	return b.String()
}

// plainLine is one line of status -w when stdout is not a terminal.
func plainLine(st controller.ServiceStatus, now time.Time) string {
	r := st.Rollout
	parts := []string{now.Format("15:04:05"), fmt.Sprintf("#%d", r.ID), strings.TrimSpace(string(r.Phase) + " " + stepText(r)),
		weightText(st)}
	for _, a := range st.Analyses {
		v := orDash(a.Verdict)
		if a.Failures > 0 {
			v += fmt.Sprintf(" (%d Fail)", a.Failures)
		}
		parts = append(parts, fmt.Sprintf("%s analysis %s: %s", a.Kind, a.Template, v))
	}
	parts = append(parts, "blast radius "+blast(st), "elapsed "+elapsed(r, now), r.Reason)
	return strings.Join(parts, "  ")
}

// stepText is a canary's "step k/n: description", "" otherwise.
func stepText(r engine.Rollout) string {
	n := len(r.Params.Steps)
	if r.Strategy != engine.StrategyCanary || n == 0 || (r.Phase != engine.PhaseProgressing && r.Phase != engine.PhasePaused) {
		return ""
	}
	if r.Step >= n {
		return fmt.Sprintf("(steps done, %d/%d)", n, n)
	}
	return fmt.Sprintf("(step %d/%d: %s)", r.Step+1, n, r.Params.Steps[r.Step])
}

// blueGreenPhases shows an active blue-green rollout's way through its
// phases, the current one marked: "✔ Deploying  ✔ Smoke  ▶ Preview  ·
// Watching  · Completed". Phases its settings skip are left out.
func blueGreenPhases(r engine.Rollout, color bool) string {
	way := []engine.Phase{engine.PhaseDeploying}
	if r.Params.Smoke {
		way = append(way, engine.PhaseSmoke)
	}
	if r.Params.PreviewWeight > 0 {
		way = append(way, engine.PhasePreview)
	}
	if !r.Params.AutoPromote || r.Phase == engine.PhasePaused {
		way = append(way, engine.PhasePaused)
	}
	way = append(way, engine.PhaseWatching, engine.PhaseCompleted)
	at := slices.Index(way, r.Phase)
	var parts []string
	for i, p := range way {
		mark := "·"
		switch {
		case i < at:
			mark = "✔"
		case i == at:
			mark = paint(color, phaseColor(p), "▶")
		}
		parts = append(parts, mark+" "+string(p))
	}
	return strings.Join(parts, "  ")
}

// version is one row of the traffic table.
type version struct {
	label, role, ready string
	weight             int
}

// versions are the rollout's versions, newest first, then any other
// version the live split names.
func versions(st controller.ServiceStatus) []version {
	r := st.Rollout
	var labels []string
	for _, l := range []string{r.To.Label, r.BaselineLabel(), r.From.Label} {
		if l != "" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(st.Weights)) {
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	var out []version
	for _, l := range labels {
		out = append(out, version{label: l, role: role(st, l), weight: st.Weights[l], ready: readiness(st, l)})
	}
	return out
}

func role(st controller.ServiceStatus, label string) string {
	r := st.Rollout
	switch label {
	case st.Stable:
		return "stable"
	case r.To.Label:
		return "new"
	case r.BaselineLabel():
		return "baseline"
	}
	return "old"
}

// readiness is "2/3 ready", or "no instances".
func readiness(st controller.ServiceStatus, label string) string {
	var n, ready int
	for _, in := range st.Instances {
		if in.Version == label {
			n++
			if in.Ready {
				ready++
			}
		}
	}
	if n == 0 {
		return "no instances"
	}
	return fmt.Sprintf("%d/%d ready", ready, n)
}

func labelWidth(st controller.ServiceStatus) int {
	w := 0
	for _, v := range versions(st) {
		w = max(w, len(v.label))
	}
	return w
}

// bar draws weight (0-100) as width cells.
func bar(weight, width int) string {
	full := (max(0, min(weight, 100))*width + 50) / 100
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

// weightText is the live split, newest version first: "v2=20 v1=80".
func weightText(st controller.ServiceStatus) string {
	var parts []string
	for _, v := range versions(st) {
		if _, ok := st.Weights[v.label]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", v.label, v.weight))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// blast is the blast radius so far.
func blast(st controller.ServiceStatus) string {
	e := st.Exposure
	return fmt.Sprintf("%s (%d failed), %s (%d failed) on %s", plural(e.Requests, "request"), e.Errors,
		plural(e.Users, "user"), e.FailedUsers, st.Rollout.To.Label)
}

// elapsed is the rollout's age, or its duration once it ended.
func elapsed(r engine.Rollout, now time.Time) string {
	return since(r.Started, r, now)
}

// since is the time from t to now, or to the rollout's end.
func since(t time.Time, r engine.Rollout, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	end := now
	if !r.Ended.IsZero() {
		end = r.Ended
	}
	return max(0, end.Sub(t)).Round(time.Second).String()
}

// limits says how close an analysis is to its limits: "failures 1/2".
func limits(a controller.AnalysisStatus) string {
	if a.Limits == nil {
		return ""
	}
	return fmt.Sprintf(" (failures %d, limit %d; errors in a row %d, limit %d)", a.Failures, a.Limits.FailureLimit,
		a.ConsecutiveErrors, a.Limits.ConsecutiveErrorLimit)
}

// metricDetail is a metric's reason without its "name: Verdict: " prefix,
// which the columns already show.
func metricDetail(metric, verdict, reason string) string {
	return strings.TrimPrefix(reason, metric+": "+verdict+": ")
}

// plural is "1 user", "2 users".
func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func phaseSymbol(p engine.Phase) string {
	switch p {
	case engine.PhaseCompleted:
		return "✔"
	case engine.PhaseRolledBack, engine.PhaseFailed, engine.PhaseAborted:
		return "✖"
	case engine.PhasePaused:
		return "‖" // U+2016, in DejaVu; U+0965 is in no font Debian installs by default
	}
	return "◌"
}

// ANSI colours.
const (
	green  = "32"
	red    = "31"
	yellow = "33"
	cyan   = "36"
)

func phaseColor(p engine.Phase) string {
	switch p {
	case engine.PhaseCompleted:
		return green
	case engine.PhaseRolledBack, engine.PhaseFailed, engine.PhaseAborted:
		return red
	case engine.PhasePaused:
		return yellow
	}
	return cyan
}

func verdictColor(v string) string {
	switch v {
	case "Pass":
		return green
	case "Fail", "Error":
		return red
	}
	return yellow
}

func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
