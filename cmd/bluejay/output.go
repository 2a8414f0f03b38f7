package main

import (
	"encoding/json"
	"fmt"
	"io"

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
// names and order, so that both read the same.
func writeData(out io.Writer, format string, v any) error {
	if format == outYAML {
		return writeYAML(out, v)
	}
	return writeJSON(out, v)
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML writes v's JSON encoding as block YAML. JSON is YAML, so the
// decoder reads it into a node tree in the JSON's order; clearing the
// styles lets the encoder choose plain, quoted or block scalars (quoting
// a string such as "123" or "true" that would read back as another type).
func writeYAML(out io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	plain(&doc)
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}
