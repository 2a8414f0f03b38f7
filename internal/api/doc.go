// Package api is bluejay's admin HTTP API, used by the CLI and the
// dashboard. Every /v1 call needs the bearer token; bodies are JSON,
// limited in size, and unknown fields are refused. Client is the Go
// client the CLI uses.
package api
