CREATE INDEX widgets_name ON widgets (name);
INSERT INTO migration_runs (migration) VALUES ('V3');
