// Package redact keeps secrets that live in URLs out of reasons, events
// and logs: a Slack incoming-webhook URL is a credential in its path, and
// other webhooks carry tokens in the query or user info.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// URL returns raw reduced to its scheme and host, with "/…" when it had
// more: https://hooks.slack.com/… for a Slack webhook.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a URL)"
	}
	out := u.Scheme + "://" + u.Host
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}

// Err returns err without the URL an HTTP client puts in it: a
// *url.Error becomes "OP: CAUSE" (Post: dial tcp ...: connection refused).
func Err(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(ue.Op + ": " + ue.Err.Error())
	}
	return err
}
