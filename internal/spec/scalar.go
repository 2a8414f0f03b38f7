package spec

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalar checks a value that decodes into a string, number or bool.
// Beyond what the decoder accepts, it refuses a bool written other than
// true or false, and a fraction where a whole number goes.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.ScalarNode || !scalarFits(n, t) {
		w.wrongKind(n, t, path)
		return false
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		w.fail(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return false
	}
	return true
}

// scalarFits reports whether the scalar n's tag suits the Go type t.
func scalarFits(n *yaml.Node, t reflect.Type) bool {
	tag := n.ShortTag()
	switch t.Kind() {
	case reflect.String:
		return tag != "!!binary"
	case reflect.Bool:
		return tag == "!!bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return tag == "!!int"
	case reflect.Float32, reflect.Float64:
		return tag == "!!int" || tag == "!!float"
	}
	return false
}

// custom checks a value whose type decodes itself, such as Duration, by
// decoding it and reporting the type's own message.
func (w *walker) custom(n *yaml.Node, t reflect.Type, path string) bool {
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		w.fail(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return false
	}
	return true
}

// wrongKind reports a value of the wrong kind for t.
func (w *walker) wrongKind(n *yaml.Node, t reflect.Type, path string) {
	msg := fmt.Sprintf("want %s, got %s", describeType(t), describeNode(n))
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
			msg += " (remove the quotes)"
		}
	}
	w.fail(n, path, "%s", msg)
}

// describeType says in words what YAML a Go type takes.
func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return "a duration such as 500ms, 10s or 5m"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "a mapping with keys " + strings.Join(fieldsOf(t).names, ", ")
	case reflect.Map:
		return "a mapping of " + describePlural(t.Elem())
	case reflect.Slice:
		return "a list of " + describePlural(t.Elem())
	}
	return t.String()
}

// describePlural names the values of a list or map.
func describePlural(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Struct, reflect.Map:
		return "mappings"
	case reflect.Slice:
		return "lists of " + describePlural(t.Elem())
	}
	return "values"
}

// describeNode says in words what a YAML node is.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	}
	return strconv.Quote(v)
}
