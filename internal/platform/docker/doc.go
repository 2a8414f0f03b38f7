// Package docker is the Platform adapter that runs each version of a
// service as containers of an image on one host, through the Docker
// Engine API (the official client, negotiating the API version: Debian's
// Engine 20.10, API 1.41, and current ones).
//
// The Engine is the state: each container carries labels (bluejay.store,
// .service, .version, .instance and what it was started with), so a
// bluejay restarted after a crash lists the same containers and adopts
// them as they are, never restarting them; a bluejay on another store
// never sees them. A container that exited is an exited instance whose
// reason has its exit code and last log lines. Every Engine call has a
// timeout (CallTimeout; a pull Config.PullTimeout), so a stuck Engine is a
// reason, not a hang. By default a version's port is published on
// 127.0.0.1 at a free port the Engine picks.
package docker
