// Package guard is the destructive-change guard: it finds the statements
// of a SQL script that an expand step must not run, because the version
// still serving — or the one a rollback returns to — may fail on the
// schema they leave, or because they lose data. An expand must leave the
// old version working; such statements belong in the contract step,
// after the rollback window (or in an expand marked allowDestructive).
//
// # What it flags
//
//   - DROP TABLE / FOREIGN TABLE; DROP VIEW, MATERIALIZED VIEW, SCHEMA,
//     SEQUENCE, TYPE, DOMAIN, DATABASE, OWNED; any other DROP … CASCADE
//     (it removes what depends on the object). DROP FUNCTION, TRIGGER,
//     INDEX, CONSTRAINT … without CASCADE are not flagged: idempotent
//     scripts drop and recreate triggers, and dropping an index or a
//     constraint loosens rather than breaks.
//   - ALTER TABLE … DROP [COLUMN]; ALTER TYPE … DROP ATTRIBUTE.
//   - Renames: ALTER TABLE … RENAME TO / RENAME [COLUMN] a TO b / SET
//     SCHEMA, and the same for views, materialized views, types, domains
//     and schemas; ALTER TYPE … RENAME VALUE. RENAME CONSTRAINT is not
//     flagged (queries do not name constraints).
//   - ALTER [COLUMN] … TYPE / SET DATA TYPE, even a widening one: the
//     guard does not know the old type.
//   - ALTER [COLUMN] … SET NOT NULL; ALTER DOMAIN … SET NOT NULL.
//   - ADD [COLUMN] … NOT NULL (or PRIMARY KEY) without a default: the old
//     version's inserts do not set the column. DEFAULT NULL counts as no
//     default; GENERATED … (identity or stored) and the serial types count
//     as one. NOT NULL inside parentheses (a CHECK) is not this.
//   - ALTER [COLUMN] … DROP DEFAULT / DROP IDENTITY; ALTER DOMAIN … DROP
//     DEFAULT: the old version's inserts may rely on it.
//   - TRUNCATE.
//   - In a DO block (plpgsql), the same statements in its body, found
//     from the first ALTER, DROP or TRUNCATE of each body statement; and
//     EXECUTE, since dynamic SQL cannot be checked. A DO block in another
//     language is flagged as unchecked.
//   - An unterminated string, quoted identifier, dollar quote or block
//     comment: what follows cannot be checked, so it fails closed.
//
// Not flagged: everything else — CREATE anything, ADD COLUMN that is
// nullable or has a default, ADD CONSTRAINT (even one the old version's
// writes may violate: that depends on the data, and the rollback
// rehearsal runs the old version against the expanded schema to catch
// it), CREATE INDEX [CONCURRENTLY], SET DEFAULT, DROP NOT NULL, and DML
// (UPDATE and DELETE backfills are what expands do).
//
// # How it reads SQL
//
// No maintained pure-Go PostgreSQL parser could be used (those derived
// from CockroachDB's are not served by the module proxy here, and
// pg_query_go needs cgo), so the guard has its own lexer and a
// classifier for the few statement shapes above. The lexer follows
// PostgreSQL's scan.l with standard_conforming_strings on: -- comments,
// nested /* */ comments, 'strings' in which a doubled quote stands for
// one, E'strings' with backslash escapes (B'…', X'…', N'…' and U&'…' are
// read as strings too),
// "quoted identifiers" with "" doubling, dollar-quoted $$…$$ and
// $tag$…$tag$ bodies, $1 parameters and identifiers containing $. So DDL
// words inside a string, a comment or a function body are never taken
// for statements. Statements end at top-level semicolons, except inside
// a SQL-standard function body (BEGIN ATOMIC … END). Lines and columns
// are the script's, in characters, also for statements inside a
// dollar-quoted DO body.
//
// What it cannot see: SQL built at run time (EXECUTE in a function,
// which is not flagged since the function only runs when called, and
// anything a called function or procedure does: SELECT f(), CALL p());
// psql meta-commands (\i, \connect), which are not SQL; and the current
// schema, so it flags by statement shape, not by effect (a type change
// that only widens is still flagged; allowDestructive overrides).
// Position in a DO body given as a '…' string (not dollar-quoted) is
// exact only up to the first doubled quote.
package guard
