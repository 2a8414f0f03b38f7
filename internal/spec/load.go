package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, checks and completes the config file at path: it parses
// the YAML, applies defaults, validates, makes relative paths absolute
// against the file's directory and reads admin.tokenFile. Any problem
// makes it return a nil Config and an *Errors listing every problem.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{readError(path, err)}.asError()
	}
	return Parse(path, data)
}

// Parse is Load for a file already read: name is used in messages and
// to find the directory that relative paths are resolved against.
func Parse(name string, data []byte) (*Config, error) {
	x := newIndex(name)
	root, err := parseYAML(data)
	if err != nil {
		e := syntaxError(name, err)
		e.Line = problemLine(data, e)
		return nil, Errors{e}.asError()
	}
	w := newWalker(x)
	w.walkRoot(root)
	if w.fatal {
		return nil, w.errs.asError()
	}
	cfg, errs := finish(x, root, name)
	if errs = append(w.errs, errs...); len(errs) > 0 {
		return nil, errs.asError()
	}
	return cfg, nil
}

// finish decodes the checked tree and completes and validates the
// Config. It returns nil with errors when anything is wrong.
func finish(x *index, root *yaml.Node, name string) (*Config, Errors) {
	cfg := &Config{}
	if err := decodeNode(root, cfg); err != nil {
		return nil, Errors{decodeError(x, err)}
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("finding the config's directory: %v", err), err: err}}
	}
	cfg.Dir = dir
	cfg.applyDefaults(x.isSet)
	cfg.resolvePaths()
	errs := validate(x, cfg)
	if e := cfg.readToken(x); e != nil {
		errs = append(errs, e)
	}
	if t := cfg.Admin.Token; t != "" && len(t) < MinTokenLength {
		path := "admin.token"
		if cfg.Admin.TokenFile != "" {
			path = "admin.tokenFile"
		}
		cfg.warnings = append(cfg.warnings, x.errorf(path, "the admin token has %d characters; a token shorter than %d "+
			"is easy to guess: leave admin.token and admin.tokenFile out and serve generates a random one", len(t), MinTokenLength))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// parseYAML parses data into a node tree: the mapping at the root of
// its only document, or nil for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("yaml: line %d: only one YAML document is allowed", next.Line)
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// problemLine improves the line of a syntax error. The parser names the
// line where the enclosing block began, which can be far above the
// mistake. The parser stops at the mistake, so every prefix of the file
// that holds it fails the same way: a binary search finds the shortest.
func problemLine(data []byte, e *Error) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if e.Line < 1 || e.Line > len(lines) {
		return e.Line
	}
	from := e.Line
	i := sort.Search(len(lines)-from+1, func(i int) bool {
		_, err := parseYAML(bytes.Join(lines[:from+i], nil))
		return err != nil && syntaxError(e.File, err).Msg == e.Msg
	})
	if i > len(lines)-from {
		return e.Line
	}
	return from + i
}

// walkRoot checks the whole tree against Config.
func (w *walker) walkRoot(root *yaml.Node) {
	if root == nil {
		return
	}
	w.budget = max(minVisits, visitsPerNode*countNodes(root))
	w.record("", root)
	n := resolve(root)
	if isNull(n) {
		return
	}
	if !w.check(n, reflect.TypeFor[Config](), "") {
		w.fatal = true
	}
}

// decodeNode decodes the root (nil for an empty file) into cfg.
func decodeNode(root *yaml.Node, cfg *Config) error {
	if root == nil {
		return nil
	}
	return root.Decode(cfg)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError locates a YAML parser error by the line in its message;
// the parser does not say the column.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg, err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

// decodeError reports a decode failure that the walk did not foresee,
// at the line the decoder names or else at the top of the file.
func decodeError(x *index, err error) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	e := syntaxError(x.file, errors.New(msg))
	e.err = err
	if e.Line == 0 {
		p := x.at("")
		e.Line, e.Col = p.line, p.col
	}
	return e
}

// readError reports a config file that cannot be read.
func readError(path string, err error) *Error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	return &Error{File: path, Msg: "cannot read the config: " + msg, err: err}
}
