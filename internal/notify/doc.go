// Package notify tells people about rollouts: every event the controller
// persists is offered to each configured target, which keeps those its
// filters select (phases, transitions or all events, services) and POSTs
// them as JSON or as a Slack-compatible message.
//
// Sending never blocks or fails a rollout: each target has its own
// bounded queue and sender goroutine, so a slow target delays no other;
// an event that finds the queue full, or that fails after its retries,
// is dropped, logged and counted (Dropped).
package notify
