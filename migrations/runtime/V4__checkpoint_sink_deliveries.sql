-- Checkpoints published to the sinks of an anchored service (SPEC.md §7.6): one row per
-- checkpoint delivered to a sink, with what the sink answered (its receipt). Each sink receives
-- the checkpoints in order, so the next one a sink is owed is the one after its newest row; a
-- replica that dies mid-delivery leaves nothing recorded, and the next publisher sends it again.
CREATE TABLE runtime_checkpoint_deliveries (
    sink               TEXT NOT NULL,
    checkpoint_number  BIGINT NOT NULL REFERENCES runtime_checkpoints (number),
    delivered_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    receipt            TEXT NOT NULL,
    PRIMARY KEY (sink, checkpoint_number)
);
