-- Indexes on the audit log that stay cheap to maintain as the log grows past millions of entries.
--
-- invocation_id: invocation ids are random, so every append inserted into a random leaf of a
-- B-tree that grows with the log; at a million entries that cost the append path about a third
-- of its throughput (cargo xtask bench runtime). Lookups are by equality only, so a hash index
-- serves them with entries a quarter the size of the B-tree's.
DROP INDEX runtime_audit_invocation;
CREATE INDEX runtime_audit_invocation ON runtime_audit_log USING hash (invocation_id);

-- task_id is absent from most entries; only entries that carry one are indexed.
DROP INDEX runtime_audit_task;
CREATE INDEX runtime_audit_task ON runtime_audit_log (task_id) WHERE task_id IS NOT NULL;
