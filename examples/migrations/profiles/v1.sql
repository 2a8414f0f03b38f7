-- Schema v1 of the sample app's profiles (`bluejay app --db URL --schema v1`):
-- one column for the whole name.
CREATE TABLE profiles (
    id   serial PRIMARY KEY,
    name text NOT NULL
);
