package spec

import (
	"go.yaml.in/yaml/v3"
)

// pairs returns the entries of mapping m: its own keys, then the keys
// merged in with `<<` that m does not set itself. Entries the decoder
// would reject (keys that are not scalars, keys written twice, merges of
// anything but mappings) are reported and removed from m.
func (w *walker) pairs(m *yaml.Node, path string) []pair {
	// m is rewritten below, so it must not be merged into itself meanwhile.
	w.open[m] = true
	defer delete(w.open, m)
	var own, merged []pair
	first := map[string]*yaml.Node{}
	kept := make([]*yaml.Node, 0, len(m.Content))
	for i := 0; i+1 < len(m.Content) && w.spend(m); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		switch {
		case k == nil || k.Kind != yaml.ScalarNode:
			w.fail(m.Content[i], path, "a key must be a plain string")
			continue
		case isMerge(k):
			more, ok := w.merge(v, path)
			if !ok {
				w.bad[path] = true // what it would have merged is missing
				continue
			}
			merged = append(merged, more...)
		case first[k.Value] != nil:
			w.fail(k, joinPath(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first[k.Value].Line)
			continue
		default:
			first[k.Value] = k
			own = append(own, pair{k, v})
		}
		kept = append(kept, m.Content[i], m.Content[i+1])
	}
	m.Content = kept
	for _, p := range merged {
		if first[p.key.Value] == nil {
			own = append(own, p)
		}
	}
	return own
}

// merge returns the entries that a `<<` key with value v merges in, and
// false if v is not a mapping or a list of mappings.
func (w *walker) merge(v *yaml.Node, path string) ([]pair, bool) {
	n := resolve(v)
	if n != nil && n.Kind == yaml.MappingNode {
		return w.mergeOne(v, n, path)
	}
	if n == nil || n.Kind != yaml.SequenceNode {
		w.fail(v, path, "a merge key (<<) takes a mapping or a list of mappings")
		return nil, false
	}
	var out []pair
	for _, elem := range n.Content {
		m := resolve(elem)
		if m == nil || m.Kind != yaml.MappingNode {
			w.fail(elem, path, "a merge key (<<) takes a mapping or a list of mappings")
			return nil, false
		}
		more, ok := w.mergeOne(elem, m, path)
		if !ok {
			return nil, false
		}
		out = append(out, more...)
	}
	return out, true
}

// mergeOne returns the entries of the merged mapping m, written at at,
// refusing a mapping that merges itself.
func (w *walker) mergeOne(at, m *yaml.Node, path string) ([]pair, bool) {
	if w.open[m] {
		w.fail(at, path, "a mapping cannot merge itself")
		return nil, false
	}
	return w.pairs(m, path), true
}

// isMerge reports whether k is the merge key `<<`, as the decoder sees it.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}
