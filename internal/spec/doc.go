// Package spec loads bluejay.yaml: the proxy, admin API and store
// settings and the services bluejay fronts.
//
// Load and Parse turn a file into a complete, valid Config, or into an
// *Errors that lists every problem at once, each located at the file,
// line and column of the offending key or value and naming the field by
// its path (services[1].blueGreen.previewWeight):
//
//	bluejay.yaml:14:9: services[0].helth: unknown field "helth" (known: ...); did you mean health?
//
// Loading runs in stages, and nothing is returned unless all pass:
//
//  1. The YAML is parsed into a node tree, which keeps positions.
//  2. The tree is walked alongside the Go types, using their yaml tags:
//     unknown keys, values of the wrong kind (a string where a number
//     goes, a bad duration) and duplicate keys are reported. Malformed
//     values are dropped from the tree so that the rest can be checked.
//  3. The tree is decoded into a Config, defaults are applied (see each
//     field's doc comment), and relative paths are made absolute against
//     the directory of the file.
//  4. Semantic rules are checked: required fields, ranges, addresses,
//     process command templates, unique service names and routes.
//  5. admin.tokenFile, if used, is read into admin.token.
//
// A value written in the file is kept even when it is zero, so that
// "watch: 0s" means "complete at once" rather than "use the default";
// a field left out gets its default.
package spec
