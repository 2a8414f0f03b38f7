package spec

import "time"

// Notification sends rollout events to a webhook: every phase transition
// by default, as JSON or as a Slack-compatible message. Sending never
// slows or fails a rollout: events go through a bounded queue, and those
// that do not fit, or fail after their retries, are dropped and counted.
type Notification struct {
	// Name labels the target in logs. Default the URL's host.
	Name string `yaml:"name"`
	// URL receives a POST per event. Required: http or https.
	URL string `yaml:"url"`
	// Format is json (the event with the rollout's fields) or slack (a
	// Slack-compatible {"text", "blocks"} message, for Slack's incoming
	// webhooks and the chat tools that accept them). Default json.
	Format string `yaml:"format"`
	// Phases selects the events by the phase they enter (or, for an
	// event within a phase, the phase it is in), such as [RolledBack,
	// Failed, Completed]. Default none listed: every phase.
	Phases []string `yaml:"phases"`
	// Events is transitions (the rollout's start, its phase changes and
	// its hooks' outcomes) or all (also canary steps, rolling batches,
	// stops and restarts). Default transitions.
	Events string `yaml:"events"`
	// Services selects the services whose events are sent. Default none
	// listed: every service.
	Services []string `yaml:"services"`
	// Headers are added to each request. Default none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one attempt. Default 5s; must be more than 0.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many more attempts a failed one gets (1s, 2s, 4s
	// apart...). Default 2; 0: one attempt only.
	Retries int `yaml:"retries"`
}

// Notification formats and event selections.
const (
	FormatJSON        = "json"
	FormatSlack       = "slack"
	EventsTransitions = "transitions"
	EventsAll         = "all"
)

// Phases are the rollout phases' names, for notifications' phases.
var Phases = []string{"Deploying", "Smoke", "Preview", "Paused", "Progressing", "Watching",
	"Completed", "RolledBack", "Failed", "Aborted"}

func (n *Notification) applyDefaults(d defaulter, path string) {
	defaultString(&n.Format, FormatJSON)
	defaultString(&n.Events, EventsTransitions)
	d.duration(&n.Timeout, path+".timeout", 5*time.Second)
	d.int(&n.Retries, path+".retries", 2)
}
