package controller

import (
	"context"
	"log/slog"
	"regexp"
)

// failing logs a failure that repeats at every tick (a metrics source or a
// router that is down) once when it starts or its cause changes, and once
// when it clears, instead of five times a second. key names the operation.
func (l *loop) failing(key string, err error, level slog.Level, args ...any) {
	if l.failures == nil {
		l.failures = map[string]string{}
	}
	prev, was := l.failures[key]
	if err == nil {
		if was {
			delete(l.failures, key)
			l.c.logger().Info(key+": working again", append(args, "service", l.svc.Spec.Name)...)
		}
		return
	}
	c := cause(err)
	if was && prev == c {
		return
	}
	l.failures[key] = c
	l.c.logger().Log(context.Background(), level, key, append(args, "service", l.svc.Spec.Name, "err", err,
		"note", "logged once until its cause changes or it clears")...)
}

// numbers are the parts of an error message that change from one try to
// the next without its cause changing: pids ("12345#12345" in NGINX's
// messages), times, temp file names, ports, counts.
var numbers = regexp.MustCompile(`[0-9]+`)

// cause is what an error says with its numbers blotted out: two errors
// with the same cause differ only in those (regression: NGINX's refusal
// carried a new pid each time and was logged 54 times in 10 s).
func cause(err error) string { return numbers.ReplaceAllString(err.Error(), "#") }
