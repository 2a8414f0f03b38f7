package spec

import (
	"net/url"
	"slices"
	"strings"
)

// serviceDeadline checks the service's progress deadline.
func (c *checker) serviceDeadline(s *Service, path string) {
	c.positive(s.ProgressDeadline, path+".progressDeadline", "10m")
	if s.OnProgressDeadline != "abort" && s.OnProgressDeadline != "pause" {
		c.add(path+".onProgressDeadline", "unknown onProgressDeadline %q (valid: abort, pause)", s.OnProgressDeadline)
	}
	if s.OnNewVersion != OnNewVersionAbort && s.OnNewVersion != OnNewVersionQueue {
		c.add(path+".onNewVersion", "unknown onNewVersion %q (valid: abort, queue)", s.OnNewVersion)
	}
}

// hooks checks a service's hooks.
func (c *checker) hooks(h *Hooks, path string) {
	for _, n := range h.ByName() {
		c.hook(n.Hook, path+"."+n.Name)
	}
}

func (c *checker) hook(h *Hook, path string) {
	switch {
	case len(h.Command) == 0 && h.Webhook == "":
		c.add(path, "a hook needs a command (such as [./scripts/check.sh]) or a webhook (such as https://ci.example.com/hook)")
	case len(h.Command) > 0 && h.Webhook != "":
		c.add(path, "a hook has one of command and webhook, got both")
	case h.Webhook != "":
		c.webhookURL(h.Webhook, path+".webhook")
	case h.Command[0] == "":
		c.add(indexPath(path+".command", 0), "the program is required: the command's first element, such as ./scripts/check.sh")
	}
	if len(h.Headers) > 0 && h.Webhook == "" {
		c.add(path+".headers", "headers are for a webhook; a command gets its payload on stdin")
	}
	c.headerNames(h.Headers, path+".headers")
	c.positive(h.Timeout, path+".timeout", "30s")
	c.atLeast(h.Retries, 0, path+".retries")
}

// webhookURL checks an http or https URL with a host.
func (c *checker) webhookURL(raw, path string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(path, "invalid URL %q: want an http or https URL, such as https://hooks.example.com/bluejay", raw)
	}
}

func (c *checker) headerNames(hs map[string]string, path string) {
	for _, k := range sortedKeys(hs) {
		if !isToken(k) {
			c.add(joinPath(path, k), "invalid header name %q", k)
		}
	}
}

// notifications checks the notification targets against the services.
func (c *checker) notifications(ns []Notification, services []Service) {
	var names []string
	for _, s := range services {
		names = append(names, s.Name)
	}
	for i := range ns {
		n, path := &ns[i], indexPath("notifications", i)
		if n.URL == "" {
			c.add(path+".url", "a url is required: the webhook events are POSTed to, such as https://hooks.slack.com/services/...")
		} else {
			c.webhookURL(n.URL, path+".url")
		}
		if n.Format != FormatJSON && n.Format != FormatSlack {
			c.add(path+".format", "unknown format %q (valid: %s, %s)", n.Format, FormatJSON, FormatSlack)
		}
		if n.Events != EventsTransitions && n.Events != EventsAll {
			c.add(path+".events", "unknown events %q (valid: %s, %s)", n.Events, EventsTransitions, EventsAll)
		}
		for j, p := range n.Phases {
			if !slices.Contains(Phases, p) {
				c.add(indexPath(path+".phases", j), "unknown phase %q%s (valid: %s)", p, didYouMean(p, Phases), strings.Join(Phases, ", "))
			}
		}
		for j, s := range n.Services {
			if !slices.Contains(names, s) {
				c.add(indexPath(path+".services", j), "unknown service %q%s (configured: %s)", s, didYouMean(s, names), strings.Join(names, ", "))
			}
		}
		c.headerNames(n.Headers, path+".headers")
		c.positive(n.Timeout, path+".timeout", "5s")
		c.atLeast(n.Retries, 0, path+".retries")
	}
}

func didYouMean(name string, known []string) string {
	if s := suggest(name, known); s != "" {
		return "; did you mean " + s + "?"
	}
	return ""
}
