-- Deliberately slow, so concurrent migrators overlap.
SELECT pg_sleep(0.5);
CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO migration_runs (migration) VALUES ('V2');
