package spec

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// pos is a 1-based line and column in the config file.
type pos struct{ line, col int }

// index knows, for one file, where each field path sits, which fields
// the file wrote, and which values were dropped as malformed. It lets
// checks that run on the decoded Config point back into the file.
type index struct {
	file string
	pos  map[string]pos  // field path → position of its value (or key if null)
	set  map[string]bool // field paths written with a non-null value
	bad  map[string]bool // field paths whose value was malformed and dropped
}

func newIndex(file string) *index {
	return &index{
		file: file,
		pos:  map[string]pos{},
		set:  map[string]bool{},
		bad:  map[string]bool{},
	}
}

// isSet reports whether the file wrote the field at path.
func (x *index) isSet(path string) bool { return x.set[path] }

// record notes that the field at path is written at n.
func (x *index) record(path string, n *yaml.Node) {
	x.pos[path] = pos{n.Line, n.Column}
}

// at returns the position of path or, for a field the file left out, of
// its closest ancestor that the file has.
func (x *index) at(path string) pos {
	for {
		if p, ok := x.pos[path]; ok {
			return p
		}
		if path == "" {
			return pos{1, 1}
		}
		path = parentPath(path)
	}
}

// errorf returns an error at the field path.
func (x *index) errorf(path, format string, args ...any) *Error {
	p := x.at(path)
	return &Error{File: x.file, Line: p.line, Col: p.col, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// errorAt returns an error at the node n, for the field path.
func (x *index) errorAt(n *yaml.Node, path, format string, args ...any) *Error {
	return &Error{File: x.file, Line: n.Line, Col: n.Column, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// dropped reports whether a value on path, above it or below it was
// malformed and dropped: a check there would judge a value the user did
// not write, so its complaint would only add noise.
func (x *index) dropped(path string) bool {
	for b := range x.bad {
		if b == path || isUnder(path, b) || isUnder(b, path) {
			return true
		}
	}
	return false
}

// joinPath appends a field or map key to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// indexPath appends a list index to a path.
func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// parentPath strips the last field, key or index from a path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// isUnder reports whether path lies strictly below ancestor.
func isUnder(path, ancestor string) bool {
	if ancestor == "" {
		return path != ""
	}
	rest, ok := strings.CutPrefix(path, ancestor)
	return ok && rest != "" && (rest[0] == '.' || rest[0] == '[')
}
