package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a config file, located at the line and column
// of the offending key or value.
type Error struct {
	// File is the config file's name as given to Load or Parse.
	File string
	// Line and Col are 1-based. Zero means unknown: YAML syntax errors
	// carry a line but no column, and an unreadable file has neither.
	Line, Col int
	// Field is the path of the field, with YAML names, [i] for list
	// indexes and .key for map keys: services[0].blueGreen.watch.
	// Empty for problems that belong to no field, such as YAML syntax.
	Field string
	// Msg says what is wrong and what would be valid.
	Msg string

	err error // the underlying error, if any, for errors.Is
}

// Error formats e as FILE:LINE:COL: FIELD: MSG, leaving out the parts
// that are unknown or empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the error that caused e, such as a failed file read.
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem found in one config file, sorted by position.
// Load and Parse return it as *Errors.
type Errors []*Error

// Error returns one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, so that errors.Is and errors.As look
// into each of them.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sort orders es by line then column, keeping the order of discovery
// for problems at the same place.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// asError returns es as the error Load and Parse return, or nil.
func (es Errors) asError() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return &es
}
