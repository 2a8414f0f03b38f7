package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// SlackMessage is a Slack-compatible incoming-webhook message: Text for
// notifications and clients without blocks, Blocks for the rest.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

// slack renders m: a headline with the outcome, the reason, and fields
// for the phase change, the weights and the blast radius.
func slack(m Message) SlackMessage {
	head := fmt.Sprintf("%s %s: rollout #%d %s → %s %s", icon(m.Phase), m.Service, m.RolloutID,
		orNone(m.FromVersion), m.ToVersion, m.Phase)
	if m.Hook != "" {
		head = fmt.Sprintf("%s %s: rollout #%d %s → %s, %s hook", icon(m.Phase), m.Service, m.RolloutID,
			orNone(m.FromVersion), m.ToVersion, m.Hook)
	}
	phase := string(m.Phase)
	if m.From != "" && m.From != m.Phase {
		phase = fmt.Sprintf("%s → %s", m.From, m.Phase)
	}
	e := m.Exposure
	fields := []slackText{
		mrkdwn("*Phase*\n" + phase),
		mrkdwn("*Strategy*\n" + m.Strategy),
		mrkdwn("*Weights*\n" + weights(m.Weights)),
		mrkdwn(fmt.Sprintf("*Blast radius*\n%d requests (%d failed), %d users (%d failed)", e.Requests, e.Errors, e.Users, e.FailedUsers)),
	}
	blocks := []slackBlock{
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "*" + escape(head) + "*\n" + escape(m.Reason)}},
		{Type: "section", Fields: fields},
	}
	if nums := numbers(m.Numbers); nums != "" {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(escape(nums))}})
	}
	return SlackMessage{Text: head + ": " + m.Reason, Blocks: blocks}
}

func icon(p engine.Phase) string {
	switch p {
	case engine.PhaseCompleted:
		return ":white_check_mark:"
	case engine.PhaseRolledBack, engine.PhaseFailed:
		return ":x:"
	case engine.PhaseAborted, engine.PhasePaused:
		return ":double_vertical_bar:"
	}
	return ":arrows_counterclockwise:"
}

func weights(w map[string]int) string {
	if len(w) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s %d%%", k, w[k]))
	}
	return strings.Join(parts, ", ")
}

// numbers lists the event's figures other than the blast radius, which
// has its own field.
func numbers(n map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		if strings.HasPrefix(k, "exposed") || k == "failedUsers" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%.4g", k, n[k]))
	}
	return strings.Join(parts, " ")
}

// escape makes text safe in Slack's mrkdwn (&, < and > are control
// characters there).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
