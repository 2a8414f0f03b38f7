package spec

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// minVisits and visitsPerNode bound the nodes one walk visits, so that
// aliases nested to expand exponentially ("billion laughs") cannot hang
// Parse: the budget is visitsPerNode times the nodes written in the
// document, and at least minVisits. A document without aliases visits
// each node once, so its size alone never exhausts the budget (a fixed
// 100,000 refused a config of 10,000 services); merges that reuse an
// anchor have room to spare, and expansion stays linear in the file.
const (
	minVisits     = 100_000
	visitsPerNode = 4
)

// countNodes counts the nodes written in the tree under n, aliases
// counted once each and not followed.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walker checks a YAML node tree against the Go type it will decode
// into, before decoding: it knows the position of every node, so each
// problem is reported where it is written, and it finds all of them
// rather than the first. A malformed value is replaced by null in the
// tree (and marked bad in the index), so that the rest still decodes
// and can be checked.
type walker struct {
	*index
	errs   Errors
	visits int
	budget int                 // of visits; see minVisits
	fatal  bool                // the tree cannot be decoded safely
	open   map[*yaml.Node]bool // mappings being read, to refuse merge cycles
}

func newWalker(x *index) *walker {
	return &walker{index: x, open: map[*yaml.Node]bool{}}
}

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, w.errorAt(n, path, format, args...))
}

// spend counts a visit and reports whether the budget allows it.
func (w *walker) spend(n *yaml.Node) bool {
	w.visits++
	if w.visits == w.budget+1 {
		w.fail(n, "", "the document is too large: its aliases expand to more than %d values", w.budget)
		w.fatal = true
	}
	return w.visits <= w.budget
}

// walk checks the node in slot (a place in its parent's Content, maybe
// an alias) against t. A null value is left alone: it means "not set".
func (w *walker) walk(slot *yaml.Node, t reflect.Type, path string) {
	n := resolve(slot)
	if n == nil || !w.spend(n) || isNull(n) {
		return
	}
	if !w.check(n, t, path) {
		w.drop(slot, t, path)
		return
	}
	w.set[path] = true
}

// drop replaces the malformed value in slot by the zero value of t, so
// that the rest of the tree decodes and list indexes stay as written
// (the decoder would skip a null list item), and marks path bad.
func (w *walker) drop(slot *yaml.Node, t reflect.Type, path string) {
	w.bad[path] = true
	var zero yaml.Node
	if err := zero.Encode(reflect.Zero(t).Interface()); err != nil {
		zero = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	zero.Line, zero.Column = slot.Line, slot.Column
	*slot = zero
}

// check dispatches on the Go type and reports whether n itself has the
// right shape. Problems inside n are recorded without failing n.
func (w *walker) check(n *yaml.Node, t reflect.Type, path string) bool {
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return w.custom(n, t, path)
	case t.Kind() == reflect.Pointer:
		return w.check(n, t.Elem(), path)
	case t.Kind() == reflect.Struct:
		return w.object(n, t, path)
	case t.Kind() == reflect.Slice:
		return w.list(n, t, path)
	case t.Kind() == reflect.Map:
		return w.dict(n, t, path)
	}
	return w.scalar(n, t, path)
}

// object checks a mapping that decodes into a struct.
func (w *walker) object(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		w.wrongKind(n, t, path)
		return false
	}
	fields := fieldsOf(t)
	for _, p := range w.pairs(n, path) {
		child := joinPath(path, p.key.Value)
		f, ok := fields.byName[p.key.Value]
		if !ok {
			w.unknown(p.key, child, fields.names)
			continue
		}
		w.recordPair(child, p)
		w.walk(p.val, f, child)
	}
	return true
}

// dict checks a mapping that decodes into a map with string keys.
func (w *walker) dict(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		w.wrongKind(n, t, path)
		return false
	}
	for _, p := range w.pairs(n, path) {
		child := joinPath(path, p.key.Value)
		w.recordPair(child, p)
		w.walk(p.val, t.Elem(), child)
	}
	return true
}

// list checks a sequence that decodes into a slice.
func (w *walker) list(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.SequenceNode {
		w.wrongKind(n, t, path)
		return false
	}
	for i, elem := range n.Content {
		child := indexPath(path, i)
		w.record(child, elem)
		if isNull(resolve(elem)) {
			w.fail(elem, child, "want %s, got an empty item", describeType(t.Elem()))
			w.drop(elem, t.Elem(), child)
			continue
		}
		w.walk(elem, t.Elem(), child)
	}
	return true
}

// recordPair records the position of a mapping entry: its value, or its
// key when the value is null and so has no useful position.
func (w *walker) recordPair(path string, p pair) {
	if isNull(resolve(p.val)) {
		w.record(path, p.key)
		return
	}
	w.record(path, p.val)
}

// unknown reports a key that names no field, suggesting a near one.
func (w *walker) unknown(key *yaml.Node, path string, known []string) {
	msg := fmt.Sprintf("unknown field %q (known: %s)", key.Value, strings.Join(known, ", "))
	if s := suggest(key.Value, known); s != "" {
		msg += "; did you mean " + s + "?"
	}
	w.fail(key, path, "%s", msg)
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a null value (`~`, `null` or nothing).
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// typeFields is the YAML view of a struct type.
type typeFields struct {
	names  []string                // in declaration order
	byName map[string]reflect.Type // YAML name → field type
}

// fieldsCache holds fieldsOf's answers, by type: the walk asks for the
// same few types once per mapping, and building the view each time was
// the largest part of parsing a config of thousands of services.
var fieldsCache sync.Map // reflect.Type → typeFields

// fieldsOf lists the fields of a struct type under their YAML names,
// leaving out fields tagged "-". The answer is shared: callers do not
// change it.
func fieldsOf(t reflect.Type) typeFields {
	if tf, ok := fieldsCache.Load(t); ok {
		return tf.(typeFields)
	}
	tf := typeFields{byName: map[string]reflect.Type{}}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		tf.names = append(tf.names, name)
		tf.byName[name] = f.Type
	}
	fieldsCache.Store(t, tf)
	return tf
}
