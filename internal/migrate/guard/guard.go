package guard

import (
	"fmt"
	"strings"
)

// Kind is what a flagged statement does that an old version of the
// service may not survive.
type Kind string

// The kinds of findings. Each names a change after which the version
// still serving (or the one a rollback returns to) can fail or lose data.
const (
	DropTable        Kind = "drop table"         // DROP TABLE, DROP FOREIGN TABLE
	DropColumn       Kind = "drop column"        // ALTER TABLE … DROP [COLUMN]; ALTER TYPE … DROP ATTRIBUTE
	DropObject       Kind = "drop"               // DROP VIEW, MATERIALIZED VIEW, SCHEMA, SEQUENCE, TYPE, DOMAIN, DATABASE, OWNED
	DropCascade      Kind = "drop cascade"       // any other DROP … CASCADE: removes what depends on it
	RenameTable      Kind = "rename table"       // ALTER TABLE … RENAME TO, … SET SCHEMA
	RenameColumn     Kind = "rename column"      // ALTER TABLE/VIEW … RENAME [COLUMN] a TO b
	RenameObject     Kind = "rename"             // a view, schema, type, domain or enum value renamed or moved
	AlterColumnType  Kind = "change column type" // ALTER [COLUMN] … [SET DATA] TYPE; ALTER TYPE … ALTER ATTRIBUTE … TYPE
	SetNotNull       Kind = "set not null"       // ALTER [COLUMN] … SET NOT NULL; ALTER DOMAIN … SET NOT NULL
	AddNotNullColumn Kind = "add NOT NULL column without default"
	DropDefault      Kind = "drop default" // ALTER [COLUMN] … DROP DEFAULT, … DROP IDENTITY
	Truncate         Kind = "truncate"
	DynamicSQL       Kind = "unchecked DO block" // EXECUTE in a DO block, or a DO block not in plpgsql
	Unreadable       Kind = "unreadable"         // an unterminated literal or comment: the rest is unchecked
)

// Finding is one flagged statement.
type Finding struct {
	// Line and Column locate the flagged clause (1-based; the column
	// counts characters), e.g. the DROP of ALTER TABLE t DROP COLUMN c.
	Line, Column int
	// Kind is what the clause does.
	Kind Kind
	// Object names what it does it to, as written: "profiles.name",
	// "profiles"; empty if it could not be told.
	Object string
	// Statement is the whole statement's text, as written, without its
	// semicolon.
	Statement string
}

// String describes the finding without its position, e.g.
// `drop column profiles.name: ALTER TABLE profiles DROP COLUMN name`,
// with the statement on one line and cut after 200 characters.
func (f Finding) String() string {
	what := string(f.Kind)
	if f.Object != "" {
		what += " " + f.Object
	}
	stmt := strings.Join(strings.Fields(f.Statement), " ")
	if r := []rune(stmt); len(r) > 200 {
		stmt = string(r[:200]) + "…"
	}
	return what + ": " + stmt
}

// Pos is the finding's position as LINE:COLUMN.
func (f Finding) Pos() string { return fmt.Sprintf("%d:%d", f.Line, f.Column) }

// Check returns the statements of the SQL script src that an expand step
// must not run (see the package doc for what is flagged and what cannot
// be seen), in source order. Nil means none was found.
func Check(src string) []Finding {
	return checkTokens(src, newLexer(src, 1, 1).all())
}

// checkTokens checks the statements of toks, which were lexed from src.
func checkTokens(src string, toks []token) []Finding {
	var out []Finding
	for _, stmt := range statements(toks) {
		out = append(out, classify(src, stmt)...)
	}
	return out
}

// statements splits toks at top-level semicolons. The body of a SQL-
// standard function (CREATE FUNCTION … BEGIN ATOMIC … END) holds
// semicolons of its own and stays in its statement.
func statements(toks []token) [][]token {
	var out [][]token
	start, atomic := 0, 0
	for i, t := range toks {
		switch {
		case t.kind == tokError:
			out = append(out, toks[start:i+1])
			return out
		case t.kind == tokWord && len(toks[start:i]) > 0 && toks[start].up == "CREATE":
			switch {
			case t.up == "BEGIN" && i+1 < len(toks) && toks[i+1].up == "ATOMIC":
				atomic++
			case t.up == "CASE" && atomic > 0:
				atomic++
			case t.up == "END" && atomic > 0:
				atomic--
			}
		case t.kind == tokPunct && t.text == ";" && atomic == 0:
			if i > start {
				out = append(out, toks[start:i])
			}
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

// stmt is a statement being classified: its tokens and the source.
type stmt struct {
	src  string
	toks []token
}

// text is the statement as written.
func (s stmt) text() string {
	if len(s.toks) == 0 {
		return ""
	}
	return s.src[s.toks[0].off:s.toks[len(s.toks)-1].end]
}

// finding makes a finding of kind at toks[i].
func (s stmt) finding(i int, kind Kind, object string) Finding {
	t := s.toks[min(i, len(s.toks)-1)]
	return Finding{Line: t.line, Column: t.col, Kind: kind, Object: object, Statement: s.text()}
}

// word reports whether toks[i] is one of the (upper-case) keywords.
func (s stmt) word(i int, words ...string) bool {
	if i >= len(s.toks) || s.toks[i].kind != tokWord {
		return false
	}
	for _, w := range words {
		if s.toks[i].up == w {
			return true
		}
	}
	return false
}

// punct reports whether toks[i] is the punctuation p.
func (s stmt) punct(i int, p string) bool {
	return i < len(s.toks) && s.toks[i].kind == tokPunct && s.toks[i].text == p
}

// name reads a possibly qualified name (a.b."C") at i and returns it as
// written and the index after it; "" if there is none.
func (s stmt) name(i int) (string, int) {
	var b strings.Builder
	for i < len(s.toks) && (s.toks[i].kind == tokWord || s.toks[i].kind == tokQuoted) {
		b.WriteString(s.toks[i].text)
		if !s.punct(i+1, ".") {
			return b.String(), i + 1
		}
		b.WriteByte('.')
		i += 2
	}
	return strings.TrimSuffix(b.String(), "."), i
}

// span is the source text of toks[i:j], "" if empty.
func (s stmt) span(i, j int) string {
	if i >= j || i >= len(s.toks) {
		return ""
	}
	j = min(j, len(s.toks))
	return s.src[s.toks[i].off:s.toks[j-1].end]
}

// classify returns the findings of one statement.
func classify(src string, toks []token) []Finding {
	s := stmt{src: src, toks: toks}
	if len(toks) == 0 {
		return nil
	}
	if last := toks[len(toks)-1]; last.kind == tokError {
		return []Finding{{Line: last.line, Column: last.col, Kind: Unreadable,
			Statement: "unterminated string, quoted identifier, dollar quote or comment from here: the rest of the script cannot be checked"}}
	}
	switch {
	case s.word(0, "DROP"):
		return s.drop()
	case s.word(0, "TRUNCATE"):
		i := 1
		if s.word(i, "TABLE") {
			i++
		}
		return []Finding{s.finding(0, Truncate, s.span(i, s.upTo(i, "CASCADE", "RESTRICT", "RESTART", "CONTINUE")))}
	case s.word(0, "ALTER"):
		return s.alter()
	case s.word(0, "DO"):
		return s.do()
	}
	return nil
}

// upTo is the index of the first of the keywords at or after i, or the
// statement's end.
func (s stmt) upTo(i int, words ...string) int {
	for ; i < len(s.toks); i++ {
		if s.word(i, words...) {
			return i
		}
	}
	return len(s.toks)
}

// drop classifies DROP …: tables and what holds or shapes data are
// flagged; functions, triggers, indexes and the like only with CASCADE.
func (s stmt) drop() []Finding {
	i, what := 1, ""
	switch {
	case s.word(1, "TABLE"):
		what = "table"
	case s.word(1, "FOREIGN") && s.word(2, "TABLE"):
		i, what = 2, "table"
	case s.word(1, "MATERIALIZED") && s.word(2, "VIEW"):
		i, what = 2, "materialized view"
	case s.word(1, "VIEW", "SCHEMA", "SEQUENCE", "TYPE", "DOMAIN", "DATABASE", "OWNED"):
		what = strings.ToLower(s.toks[1].up)
	}
	i++
	if s.word(i, "IF") && s.word(i+1, "EXISTS") {
		i += 2
	}
	object := s.span(i, s.upTo(i, "CASCADE", "RESTRICT"))
	switch {
	case what == "table":
		return []Finding{s.finding(0, DropTable, object)}
	case what != "":
		return []Finding{s.finding(0, DropObject, what+" "+object)}
	case s.upTo(i, "CASCADE") < len(s.toks):
		return []Finding{s.finding(0, DropCascade, strings.ToLower(s.toks[1].text)+" "+object)}
	}
	return nil
}

// alter classifies ALTER TABLE, FOREIGN TABLE, VIEW, MATERIALIZED VIEW,
// TYPE, DOMAIN and SCHEMA; other ALTERs (INDEX, SEQUENCE, FUNCTION, ROLE…)
// are not flagged.
func (s stmt) alter() []Finding {
	i, what := 1, ""
	switch {
	case s.word(1, "TABLE"):
		what = "table"
	case s.word(1, "FOREIGN") && s.word(2, "TABLE"):
		i, what = 2, "table"
	case s.word(1, "MATERIALIZED") && s.word(2, "VIEW"):
		i, what = 2, "materialized view"
	case s.word(1, "VIEW", "TYPE", "DOMAIN", "SCHEMA"):
		what = strings.ToLower(s.toks[1].up)
	default:
		return nil
	}
	i++
	if s.word(i, "IF") && s.word(i+1, "EXISTS") {
		i += 2
	}
	if s.word(i, "ONLY") {
		i++
	}
	name, i := s.name(i)
	if s.punct(i, "*") {
		i++
	}
	switch {
	case s.word(i, "RENAME"):
		return s.rename(i, what, name)
	case s.word(i, "SET") && s.word(i+1, "SCHEMA"):
		kind := RenameObject
		if what == "table" {
			kind = RenameTable
		} else {
			name = what + " " + name
		}
		return []Finding{s.finding(i, kind, name+" to schema "+s.span(i+2, len(s.toks)))}
	}
	var out []Finding
	for _, a := range s.actions(i) {
		if f, ok := s.action(a[0], a[1], what, name); ok {
			out = append(out, f)
		}
	}
	return out
}

// rename classifies ALTER … name RENAME at i.
func (s stmt) rename(i int, what, name string) []Finding {
	switch {
	case s.word(i+1, "TO"):
		if what == "table" {
			return []Finding{s.finding(i, RenameTable, name+" to "+s.span(i+2, len(s.toks)))}
		}
		return []Finding{s.finding(i, RenameObject, what+" "+name+" to "+s.span(i+2, len(s.toks)))}
	case s.word(i+1, "CONSTRAINT"):
		return nil // a constraint's name is not used by queries
	case s.word(i+1, "VALUE"):
		return []Finding{s.finding(i, RenameObject, "enum value of "+name+": "+s.span(i+2, len(s.toks)))}
	}
	j := i + 1
	if s.word(j, "COLUMN", "ATTRIBUTE") {
		j++
	}
	col, _ := s.name(j)
	return []Finding{s.finding(i, RenameColumn, name+"."+col+" to "+s.span(s.upTo(j, "TO")+1, len(s.toks)))}
}

// actions splits the comma-separated actions from i on, at parenthesis
// depth 0, into [start, end) ranges of token indexes.
func (s stmt) actions(i int) [][2]int {
	var out [][2]int
	depth, start := 0, i
	for j := i; j < len(s.toks); j++ {
		switch {
		case s.punct(j, "(") || s.punct(j, "["):
			depth++
		case s.punct(j, ")") || s.punct(j, "]"):
			depth--
		case s.punct(j, ",") && depth == 0:
			out = append(out, [2]int{start, j})
			start = j + 1
		}
	}
	if start < len(s.toks) {
		out = append(out, [2]int{start, len(s.toks)})
	}
	return out
}

// action classifies one ALTER TABLE/TYPE/DOMAIN action, toks[i:j].
func (s stmt) action(i, j int, what, name string) (Finding, bool) {
	a := stmt{src: s.src, toks: s.toks[:j]} // the action ends at j
	switch {
	case a.word(i, "ADD"):
		return a.add(i, j, name)
	case a.word(i, "DROP"):
		k := i + 1
		switch {
		case what == "domain" && a.word(k, "DEFAULT"):
			return s.finding(i, DropDefault, "domain "+name), true
		case what == "domain", a.word(k, "CONSTRAINT"):
			return Finding{}, false // loosens: the old version's writes still fit
		case a.word(k, "COLUMN", "ATTRIBUTE"):
			k++
		}
		if a.word(k, "IF") && a.word(k+1, "EXISTS") {
			k += 2
		}
		col, _ := a.name(k)
		return s.finding(i, DropColumn, name+"."+col), true
	case a.word(i, "ALTER"):
		k := i + 1
		if a.word(k, "CONSTRAINT") {
			return Finding{}, false
		}
		if a.word(k, "COLUMN", "ATTRIBUTE") {
			k++
		}
		col, k := a.name(k)
		object := name + "." + col
		switch {
		case a.word(k, "TYPE"), a.word(k, "SET") && a.word(k+1, "DATA") && a.word(k+2, "TYPE"):
			return s.finding(i, AlterColumnType, object+" to "+a.span(a.upTo(k, "TYPE")+1, j)), true
		case a.word(k, "SET") && a.word(k+1, "NOT") && a.word(k+2, "NULL"):
			return s.finding(i, SetNotNull, object), true
		case a.word(k, "DROP") && a.word(k+1, "DEFAULT", "IDENTITY"):
			return s.finding(i, DropDefault, object), true
		}
	case a.word(i, "SET") && a.word(i+1, "NOT") && a.word(i+2, "NULL") && what == "domain":
		return s.finding(i, SetNotNull, "domain "+name), true
	}
	return Finding{}, false
}

// serials are the types that come with a default (a sequence's nextval).
var serials = map[string]bool{"SERIAL": true, "BIGSERIAL": true, "SMALLSERIAL": true, "SERIAL2": true, "SERIAL4": true, "SERIAL8": true}

// add classifies ADD …, toks[i:j]: a column that is NOT NULL (or PRIMARY
// KEY) with no default, identity, generation or serial type is flagged,
// since the old version's inserts do not set it; constraints are not.
func (s stmt) add(i, j int, name string) (Finding, bool) {
	k := i + 1
	switch {
	case s.word(k, "CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE"):
		return Finding{}, false
	case s.word(k, "COLUMN", "ATTRIBUTE"):
		k++
	}
	if s.word(k, "IF") && s.word(k+1, "NOT") && s.word(k+2, "EXISTS") {
		k += 3
	}
	col, k := s.name(k)
	notNull, filled, depth := false, false, 0
	for ; k < j; k++ {
		switch {
		case s.punct(k, "("):
			depth++
		case s.punct(k, ")"):
			depth--
		case depth > 0:
		case s.word(k, "NOT") && s.word(k+1, "NULL"), s.word(k, "PRIMARY") && s.word(k+1, "KEY"):
			notNull = true
		case s.word(k, "DEFAULT"):
			// DEFAULT NULL is no default at all.
			filled = filled || !s.word(k+1, "NULL")
		case s.word(k, "GENERATED"), s.toks[k].kind == tokWord && serials[s.toks[k].up]:
			filled = true
		}
	}
	if notNull && !filled {
		return s.finding(i, AddNotNullColumn, name+"."+col), true
	}
	return Finding{}, false
}

// do checks a DO block: its plpgsql body is lexed and each statement in
// it checked from its first ALTER, DROP or TRUNCATE; EXECUTE (dynamic
// SQL, which cannot be seen) and a body in another language are flagged.
func (s stmt) do() []Finding {
	var body *token
	lang := "PLPGSQL"
	for i := 1; i < len(s.toks); i++ {
		switch {
		case s.word(i, "LANGUAGE") && i+1 < len(s.toks):
			lang = strings.ToUpper(strings.Trim(s.toks[i+1].text, `"'`))
			i++
		case s.toks[i].kind == tokDollar || s.toks[i].kind == tokString:
			body = &s.toks[i]
		}
	}
	if body == nil {
		return nil
	}
	if lang != "PLPGSQL" {
		return []Finding{s.finding(0, DynamicSQL, "in language "+strings.ToLower(lang))}
	}
	line, col := body.bodyLine, body.bodyCol
	if body.kind == tokString {
		// Positions inside are right up to the first doubled quote.
		line, col = body.line, body.col+1
	}
	inner := newLexer(body.body, line, col).all()
	var out []Finding
	for _, st := range statements(inner) {
		sub := stmt{src: body.body, toks: st}
		if last := st[len(st)-1]; last.kind == tokError {
			out = append(out, Finding{Line: last.line, Column: last.col, Kind: Unreadable, Statement: "unterminated literal or comment in the DO block: the rest of it cannot be checked"})
			continue
		}
		for i := range st {
			if sub.word(i, "EXECUTE") {
				out = append(out, stmt{src: body.body, toks: st[i:]}.finding(0, DynamicSQL, "EXECUTE"))
				break
			}
			if sub.word(i, "ALTER", "DROP", "TRUNCATE") {
				out = append(out, classify(body.body, st[i:])...)
				break
			}
		}
	}
	return out
}
