package controller

import (
	"context"
	"log/slog"
)

// failing logs a failure that repeats at every tick (a metrics source or a
// router that is down) once when it starts or changes, and once when it
// clears, instead of five times a second. key names the operation.
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
	if was && prev == err.Error() {
		return
	}
	l.failures[key] = err.Error()
	l.c.logger().Log(context.Background(), level, key, append(args, "service", l.svc.Spec.Name, "err", err,
		"note", "logged once until it changes or clears")...)
}
