-- Records every migration application, so tests can prove each ran exactly once.
CREATE TABLE migration_runs (migration text NOT NULL, ran_at timestamptz NOT NULL DEFAULT now());
INSERT INTO migration_runs (migration) VALUES ('V1');
