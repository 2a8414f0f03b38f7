package spec

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// templateFields are the fields a process template may use.
var templateFields = []string{"Port", "Version", "Service", "Instance"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// platform checks that exactly one platform is set, and that one.
func (c *checker) platform(s *Service, path string) {
	p := s.Platform
	switch {
	case p.count() == 0:
		c.add(path, "one of process, static, kubernetes and docker is required")
	case p.count() > 1:
		c.add(path, "set only one of process, static, kubernetes and docker")
	case p.Process != nil:
		c.process(p.Process, path+".process")
	case p.Kubernetes != nil:
		c.kubernetesPlatform(p.Kubernetes, path+".kubernetes")
	case p.Docker != nil:
		c.dockerPlatform(p.Docker, path+".docker")
	default:
		c.static(p.Static, s.Version, path+".static")
	}
}

// process checks the command, which must parse as templates and pass
// the port to the program somewhere, and the env.
func (c *checker) process(p *Process, path string) {
	if len(p.Command) == 0 {
		c.add(path+".command", `a command is required: the program and its arguments, such as ["./app", "--port", "{{.Port}}"]`)
	}
	c.atLeast(p.Replicas, 1, path+".replicas")
	port := false
	for i, arg := range p.Command {
		port = c.template(arg, indexPath(path+".command", i)) || port
	}
	for _, k := range sortedKeys(p.Env) {
		at := joinPath(path+".env", k)
		if !envName.MatchString(k) {
			c.add(at, "invalid environment variable name %q: want letters, digits and '_', not starting with a digit", k)
		}
		port = c.template(p.Env[k], at) || port
	}
	if len(p.Command) > 0 && !port {
		c.add(path+".command", "the command must listen on {{.Port}}: pass it in an argument or an env value, such as --port {{.Port}}")
	}
}

// template checks one templated string and reports whether it uses
// {{.Port}} (or might: a template that does not parse is not judged).
func (c *checker) template(text, path string) (usesPort bool) {
	fields, ok := c.templateFields(text, path)
	if !ok {
		return true
	}
	for _, f := range fields {
		if f == "Port" {
			usesPort = true
		}
		if !slices.Contains(templateFields, f) {
			c.add(path, "unknown template field .%s (known: .%s)", f, strings.Join(templateFields, ", ."))
		}
	}
	return usesPort
}

// templateFields parses one templated string and returns the top-level
// fields it uses; a template that does not parse is reported, and ok is
// false.
func (c *checker) templateFields(text, path string) (fields []string, ok bool) {
	t, err := template.New("arg").Parse(text)
	if err != nil {
		c.add(path, "invalid template %q: %s", text, templateError(err))
		return nil, false
	}
	return topFields(t.Root), true
}

var templatePrefix = regexp.MustCompile(`^template: arg:(\d+:)*\s*`)

// templateError strips the template name and line from a parse error.
func templateError(err error) string {
	return templatePrefix.ReplaceAllString(err.Error(), "")
}

// topFields lists the first identifiers of the fields the template reads
// from its data: .Port and $.Port give "Port". The bodies of range and
// with, where dot is something else, are not searched.
func topFields(n parse.Node) []string {
	var out []string
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, m := range n.Nodes {
				out = append(out, topFields(m)...)
			}
		}
	case *parse.ActionNode:
		out = topFields(n.Pipe)
	case *parse.PipeNode:
		if n != nil {
			for _, cmd := range n.Cmds {
				out = append(out, topFields(cmd)...)
			}
		}
	case *parse.CommandNode:
		for _, arg := range n.Args {
			out = append(out, topFields(arg)...)
		}
	default:
		out = leafFields(n)
	}
	return out
}

// leafFields is topFields for fields, variables and control nodes.
func leafFields(n parse.Node) []string {
	switch n := n.(type) {
	case *parse.FieldNode:
		return n.Ident[:1]
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			return n.Ident[1:2]
		}
	case *parse.ChainNode:
		return topFields(n.Node)
	case *parse.TemplateNode:
		return topFields(n.Pipe)
	case *parse.IfNode:
		return slices.Concat(topFields(n.Pipe), topFields(n.List), topFields(n.ElseList))
	case *parse.RangeNode:
		return slices.Concat(topFields(n.Pipe), topFields(n.ElseList))
	case *parse.WithNode:
		return slices.Concat(topFields(n.Pipe), topFields(n.ElseList))
	}
	return nil
}

// static checks the targets: versions are labels, addresses host:port,
// and the service's own version has somewhere to run.
func (c *checker) static(s *Static, version, path string) {
	path += ".targets"
	if version != "" && len(s.Targets[version]) == 0 {
		c.add(joinPath(path, version), "no targets for the service's version %q: list its host:port addresses under targets.%s", version, version)
	}
	for _, v := range sortedKeys(s.Targets) {
		if err := checkVersion(v); err != nil {
			c.add(joinPath(path, v), "%v", err)
		}
		for i, addr := range s.Targets[v] {
			if err := checkHostPort(addr, true); err != nil {
				c.add(indexPath(joinPath(path, v), i), "%v", err)
			}
		}
	}
}

// sortedKeys returns a map's keys in order, for a stable error order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
