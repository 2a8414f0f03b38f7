package guard

import (
	"fmt"
	"strings"
	"testing"
)

// want is one expected finding: its position, kind and object.
type want struct {
	line, col int
	kind      Kind
	object    string
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []want
	}{
		// Flagged.
		{"drop column", `ALTER TABLE profiles DROP COLUMN name;`,
			[]want{{1, 22, DropColumn, "profiles.name"}}},
		{"drop column without COLUMN, if exists", `alter table if exists only public.profiles drop if exists "Name" cascade`,
			[]want{{1, 44, DropColumn, `public.profiles."Name"`}}},
		{"drop table", `DROP TABLE IF EXISTS a, b CASCADE;`, []want{{1, 1, DropTable, "a, b"}}},
		{"drop foreign table", `DROP FOREIGN TABLE f;`, []want{{1, 1, DropTable, "f"}}},
		{"drop view", `DROP MATERIALIZED VIEW mv;`, []want{{1, 1, DropObject, "materialized view mv"}}},
		{"drop schema", `DROP SCHEMA old;`, []want{{1, 1, DropObject, "schema old"}}},
		{"drop function cascade", `DROP FUNCTION f() CASCADE;`, []want{{1, 1, DropCascade, "function f()"}}},
		{"rename column", `ALTER TABLE profiles RENAME COLUMN name TO full_name;`,
			[]want{{1, 22, RenameColumn, "profiles.name to full_name"}}},
		{"rename column without COLUMN", `ALTER TABLE profiles RENAME name TO full_name;`,
			[]want{{1, 22, RenameColumn, "profiles.name to full_name"}}},
		{"rename table", `ALTER TABLE profiles RENAME TO people;`, []want{{1, 22, RenameTable, "profiles to people"}}},
		{"move table", `ALTER TABLE profiles SET SCHEMA archive;`, []want{{1, 22, RenameTable, "profiles to schema archive"}}},
		{"rename view", `ALTER VIEW v RENAME TO w;`, []want{{1, 14, RenameObject, "view v to w"}}},
		{"rename enum value", `ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';`, []want{{1, 17, RenameObject, "enum value of mood: 'sad' TO 'blue'"}}},
		{"alter type", `ALTER TABLE t ALTER COLUMN n TYPE bigint USING n::bigint;`,
			[]want{{1, 15, AlterColumnType, "t.n to bigint USING n::bigint"}}},
		{"set data type without COLUMN", `ALTER TABLE t ALTER n SET DATA TYPE text;`,
			[]want{{1, 15, AlterColumnType, "t.n to text"}}},
		{"set not null", `ALTER TABLE t ALTER COLUMN n SET NOT NULL;`, []want{{1, 15, SetNotNull, "t.n"}}},
		{"drop default", `ALTER TABLE t ALTER COLUMN n DROP DEFAULT;`, []want{{1, 15, DropDefault, "t.n"}}},
		{"add not null without default", `ALTER TABLE t ADD COLUMN c text NOT NULL;`,
			[]want{{1, 15, AddNotNullColumn, "t.c"}}},
		{"add not null, default null", `ALTER TABLE t ADD c text DEFAULT NULL NOT NULL;`,
			[]want{{1, 15, AddNotNullColumn, "t.c"}}},
		{"add primary key column", `ALTER TABLE t ADD COLUMN IF NOT EXISTS id2 int PRIMARY KEY;`,
			[]want{{1, 15, AddNotNullColumn, "t.id2"}}},
		{"truncate", `TRUNCATE TABLE t RESTART IDENTITY;`, []want{{1, 1, Truncate, "t"}}},
		{"domain set not null", `ALTER DOMAIN d SET NOT NULL;`, []want{{1, 16, SetNotNull, "domain d"}}},
		{"several actions, one bad", `ALTER TABLE t ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c SET DEFAULT 0;`,
			[]want{{1, 33, DropColumn, "t.b"}}},
		{"several actions, parenthesised commas", `ALTER TABLE t ADD COLUMN a numeric(10, 2) NOT NULL, ADD CONSTRAINT k CHECK (a IN (1, 2));`,
			[]want{{1, 15, AddNotNullColumn, "t.a"}}},
		{"multiple statements per line", "CREATE TABLE x (id int); ALTER TABLE x DROP COLUMN id; DROP TABLE y;",
			[]want{{1, 40, DropColumn, "x.id"}, {1, 56, DropTable, "y"}}},
		{"line numbers after comments and strings", "-- a comment with ; in it\n/* block\n ; */ SELECT 'it''s;\n';\n\n  ALTER TABLE p\n    DROP COLUMN q;",
			[]want{{7, 5, DropColumn, "p.q"}}},
		{"non-ASCII columns count characters", "SELECT 'héé'; DROP TABLE t;", []want{{1, 15, DropTable, "t"}}},
		{"DO block with DDL", "DO $$\nBEGIN\n  IF true THEN\n    ALTER TABLE t DROP COLUMN c;\n  END IF;\nEND\n$$;",
			[]want{{4, 19, DropColumn, "t.c"}}},
		{"DO block with dynamic SQL", "DO $do$ BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN c', 't'); END $do$;",
			[]want{{1, 15, DynamicSQL, "EXECUTE"}}},
		{"DO block in another language", "DO LANGUAGE plpython3u 'plpy.execute(\"DROP TABLE t\")';",
			[]want{{1, 1, DynamicSQL, "in language plpython3u"}}},
		{"unterminated dollar quote", "SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1;\nDROP TABLE t;",
			[]want{{2, 36, Unreadable, ""}}},
		{"unterminated comment", "/* /* nested */ DROP TABLE t;", []want{{1, 1, Unreadable, ""}}},

		// Not flagged.
		{"trigger function body containing DROP", `
CREATE OR REPLACE FUNCTION sync() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- never DROP TABLE here; ALTER TABLE t DROP COLUMN c;
  IF NEW.name IS NULL THEN RAISE EXCEPTION 'DROP TABLE % ; TRUNCATE', 'x'; END IF;
  EXECUTE 'DROP TABLE x';
  RETURN NEW;
END $fn$;`, nil},
		{"not null with default", `ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT 'x';`, nil},
		{"not null default first", `ALTER TABLE t ADD COLUMN c int DEFAULT 0 NOT NULL;`, nil},
		{"identity column", `ALTER TABLE t ADD COLUMN id2 bigint GENERATED ALWAYS AS IDENTITY NOT NULL;`, nil},
		{"serial column", `ALTER TABLE t ADD COLUMN n bigserial NOT NULL;`, nil},
		{"nullable columns", `ALTER TABLE profiles ADD COLUMN first_name text, ADD COLUMN last_name text;`, nil},
		{"check mentioning not null", `ALTER TABLE t ADD COLUMN c int CHECK (c IS NOT NULL OR true);`, nil},
		{"create index concurrently", `CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);`, nil},
		{"set default", `ALTER TABLE t ALTER COLUMN c SET DEFAULT 'x';`, nil},
		{"drop not null", `ALTER TABLE t ALTER COLUMN c DROP NOT NULL;`, nil},
		{"drop constraint", `ALTER TABLE t DROP CONSTRAINT t_c_check;`, nil},
		{"add constraint", `ALTER TABLE t ADD CONSTRAINT u UNIQUE (a), ADD CHECK (a > 0) NOT VALID;`, nil},
		{"rename constraint", `ALTER TABLE t RENAME CONSTRAINT a TO b;`, nil},
		{"idempotent trigger", `DROP TRIGGER IF EXISTS s ON t; CREATE TRIGGER s BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION sync();`, nil},
		{"drop index", `DROP INDEX CONCURRENTLY IF EXISTS i;`, nil},
		{"DDL words in strings and identifiers", `INSERT INTO "drop table" (x) VALUES ('ALTER TABLE t DROP COLUMN c'), (E'\';DROP TABLE t;--');`, nil},
		{"DDL words in a comment", "/* DROP TABLE t; /* nested; */ TRUNCATE t; */ SELECT 1; -- DROP TABLE t", nil},
		{"update and delete", `UPDATE t SET a = b; DELETE FROM t WHERE a IS NULL;`, nil},
		{"alter index and sequence", `ALTER INDEX i RENAME TO j; ALTER SEQUENCE s RESTART;`, nil},
		{"sql-standard body", "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 1;", nil},
		{"DO block with DML only", "DO $$ BEGIN UPDATE t SET first_name = split_part(name, ' ', 1); END $$;", nil},
		{"dollar in identifiers and params", "SELECT a$b, $1, $$x;DROP TABLE t$$ FROM t$;", nil},
		{"begin and commit", "BEGIN; ALTER TABLE t ADD COLUMN c int; COMMIT;", nil},
		{"empty", "  -- nothing\n;;", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.sql)
			if len(got) != len(tt.want) {
				t.Fatalf("Check found %d, want %d:\n%s", len(got), len(tt.want), dump(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.line || g.Column != w.col || g.Kind != w.kind || g.Object != w.object {
					t.Errorf("finding %d = %d:%d %s %q, want %d:%d %s %q", i, g.Line, g.Column, g.Kind, g.Object, w.line, w.col, w.kind, w.object)
				}
			}
		})
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s (object %q)\n", f.Pos(), f, f.Object)
	}
	return b.String()
}

func TestFindingString(t *testing.T) {
	fs := Check("SELECT 1;\nALTER TABLE profiles\n  DROP COLUMN name;")
	if len(fs) != 1 {
		t.Fatalf("findings: %s", dump(fs))
	}
	f := fs[0]
	if f.Statement != "ALTER TABLE profiles\n  DROP COLUMN name" {
		t.Errorf("Statement = %q, want the statement as written without its semicolon", f.Statement)
	}
	if got, want := f.String(), "drop column profiles.name: ALTER TABLE profiles DROP COLUMN name"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := f.Pos(); got != "3:3" {
		t.Errorf("Pos() = %q, want 3:3", got)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"ALTER TABLE t DROP COLUMN c;", "DO $$ BEGIN EXECUTE 'x'; END $$;", "E'\\'", "$a$ $b$ $a$", "/* /* */",
		"CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END;", "ALTER TABLE t ADD c int NOT NULL, ALTER c TYPE text",
		"ALTER TYPE t RENAME", "ALTER TABLE", "DROP", "ALTER TABLE t ALTER", "DO", "DO 'x", "U&\"a\" \"\"\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Count(src, "\n") + 1
		for _, fd := range Check(src) {
			if fd.Line < 1 || fd.Line > lines || fd.Column < 1 {
				t.Fatalf("finding at %s outside the %d-line source: %s", fd.Pos(), lines, fd)
			}
		}
	})
}
