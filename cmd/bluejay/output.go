package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// Output formats of the read commands (-o).
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

func (g *globals) addOutput(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.output, "output", "o", outTable, "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{outTable, outJSON, outYAML}, cobra.ShellCompDirectiveNoFileComp))
}

// format returns -o, checked.
func (g *globals) format() (string, error) {
	switch g.output {
	case outTable, "":
		return outTable, nil
	case outJSON, outYAML:
		return g.output, nil
	}
	return "", usageError{fmt.Errorf("--output %q: want table, json or yaml", g.output)}
}

// writeData writes v as JSON or YAML; the YAML has the JSON's field
// names and order, so that both read the same. Durations are written as
// in the config ("2m0s"), not as the API's nanoseconds.
func writeData(out io.Writer, format string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON is YAML: the decoder reads it into a node tree in the JSON's
	// order.
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 1 {
		durations(doc.Content[0], reflect.TypeOf(v))
	}
	if format == outYAML {
		// Clearing the styles lets the encoder choose plain, quoted or
		// block scalars (quoting a string such as "123" or "true" that
		// would read back as another type).
		plain(&doc)
		enc := yaml.NewEncoder(out)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return err
		}
		return enc.Close()
	}
	var raw bytes.Buffer
	if len(doc.Content) == 1 {
		nodeJSON(&raw, doc.Content[0])
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw.Bytes(), "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	_, err = pretty.WriteTo(out)
	return err
}

var durationType = reflect.TypeOf(time.Duration(0))

// durations rewrites, in n (the JSON encoding of a value of type t), the
// integers of time.Duration fields as duration strings.
func durations(n *yaml.Node, t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil:
	case t == durationType:
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil && n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
			n.Value, n.Tag, n.Style = time.Duration(i).String(), "!!str", yaml.DoubleQuotedStyle
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := jsonFields(t, map[string]reflect.Type{})
		for i := 0; i+1 < len(n.Content); i += 2 {
			durations(n.Content[i+1], fields[n.Content[i].Value])
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			durations(n.Content[i+1], t.Elem())
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			durations(c, t.Elem())
		}
	}
}

// jsonFields adds t's fields by JSON name to into, those of embedded
// structs included.
func jsonFields(t reflect.Type, into map[string]reflect.Type) map[string]reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			jsonFields(f.Type, into)
		case name == "":
			into[f.Name] = f.Type
		default:
			into[name] = f.Type
		}
	}
	return into
}

// nodeJSON writes n, a node tree decoded from JSON, back as JSON.
func nodeJSON(b *bytes.Buffer, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			nodeJSON(b, n.Content[i+1])
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			nodeJSON(b, c)
		}
		b.WriteByte(']')
	default:
		switch n.Tag {
		case "!!int", "!!float", "!!bool", "!!null":
			b.WriteString(n.Value)
		default:
			v, _ := json.Marshal(n.Value)
			b.Write(v)
		}
	}
}

func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}
