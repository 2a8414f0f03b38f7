-- Expand for v2 (first_name, last_name), run before v2 starts and while
-- v1 serves: it only adds, so v1 keeps working, and a rollback to v1
-- finds every profile, including those v2 wrote.
--
-- Both shapes are kept in sync by a trigger, whichever version writes:
-- v1 writes name, and the trigger splits it on its first space into
-- first_name and last_name; v2 writes first_name and last_name, and the
-- trigger joins them into name (which stays NOT NULL: the trigger fills
-- it before the constraint is checked). Splitting and joining undo each
-- other, the way the app does it (sampleapp.SplitName and JoinName).
--
-- The runner applies this file in one transaction, so no v1 write falls
-- between the trigger's creation and the backfill.

ALTER TABLE profiles
    ADD COLUMN IF NOT EXISTS first_name text,
    ADD COLUMN IF NOT EXISTS last_name text;

CREATE OR REPLACE FUNCTION profiles_sync_names() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.first_name IS NULL AND NEW.last_name IS NULL THEN
            -- written by v1: derive the new shape
            NEW.first_name := split_part(NEW.name, ' ', 1);
            NEW.last_name := substr(NEW.name, length(split_part(NEW.name, ' ', 1)) + 2);
        ELSIF NEW.name IS NULL THEN
            -- written by v2: derive the old shape
            NEW.name := CASE WHEN coalesce(NEW.last_name, '') = '' THEN coalesce(NEW.first_name, '')
                             ELSE coalesce(NEW.first_name, '') || ' ' || NEW.last_name END;
        END IF;
    ELSIF NEW.name IS DISTINCT FROM OLD.name
          AND NEW.first_name IS NOT DISTINCT FROM OLD.first_name
          AND NEW.last_name IS NOT DISTINCT FROM OLD.last_name THEN
        -- v1 renamed
        NEW.first_name := split_part(NEW.name, ' ', 1);
        NEW.last_name := substr(NEW.name, length(split_part(NEW.name, ' ', 1)) + 2);
    ELSIF NEW.name IS NOT DISTINCT FROM OLD.name
          AND (NEW.first_name IS DISTINCT FROM OLD.first_name
               OR NEW.last_name IS DISTINCT FROM OLD.last_name) THEN
        -- v2 renamed (or the backfill below filled the new columns)
        NEW.name := CASE WHEN coalesce(NEW.last_name, '') = '' THEN coalesce(NEW.first_name, '')
                         ELSE coalesce(NEW.first_name, '') || ' ' || NEW.last_name END;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS profiles_sync_names ON profiles;
CREATE TRIGGER profiles_sync_names
    BEFORE INSERT OR UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION profiles_sync_names();

-- Backfill the rows v1 wrote before the trigger existed.
UPDATE profiles
   SET first_name = split_part(name, ' ', 1),
       last_name = substr(name, length(split_part(name, ' ', 1)) + 2)
 WHERE first_name IS NULL OR last_name IS NULL;
