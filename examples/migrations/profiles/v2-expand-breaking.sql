-- A deliberately bad expand for v2, for the rollback rehearsal: it
-- renames name, so v1 — still serving, and what a rollback returns to —
-- can no longer read or write profiles. The guard refuses it (rename
-- column, line 8) unless allowDestructive is set; with that set, the
-- rehearsal runs v1's smoke tests against the result and stops the
-- rollout before any user sees v2.

ALTER TABLE profiles RENAME COLUMN name TO full_name;

ALTER TABLE profiles
    ADD COLUMN first_name text,
    ADD COLUMN last_name text;

UPDATE profiles
   SET first_name = split_part(full_name, ' ', 1),
       last_name = substr(full_name, length(split_part(full_name, ' ', 1)) + 2);
