-- Contract for v2, run only after v2's rollout completed and the
-- rollback window closed (v1 stopped): nothing reads name any more.
-- The guard flags this file (SET NOT NULL, DROP COLUMN): that is what a
-- contract is for, and why it must never run as an expand.

DROP TRIGGER IF EXISTS profiles_sync_names ON profiles;
DROP FUNCTION IF EXISTS profiles_sync_names();

-- Rows the trigger would have filled, had any escaped it.
UPDATE profiles
   SET first_name = split_part(name, ' ', 1),
       last_name = substr(name, length(split_part(name, ' ', 1)) + 2)
 WHERE first_name IS NULL OR last_name IS NULL;

ALTER TABLE profiles
    ALTER COLUMN first_name SET NOT NULL,
    ALTER COLUMN last_name SET NOT NULL;

ALTER TABLE profiles DROP COLUMN name;
