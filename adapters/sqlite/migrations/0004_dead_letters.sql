-- Queued work that can never be done (issue 17): an event or a step that failed for good,
-- or whose queued row does not parse, moved here with the reason in the commit that takes it
-- off its queue, as SQS moves such a message to its dead-letter queue on AWS. Nothing reads
-- it back: `avvio serve` says at start how many there are; docs/serve.md shows how to look
-- and how to queue one again.
CREATE TABLE dead_letters (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the id names a letter
    queue   TEXT    NOT NULL CHECK (queue IN ('events', 'steps')),
    body    TEXT    NOT NULL,  -- the row as it was queued (`events.event`, `steps.message`)
    due     INTEGER,           -- a step's due time (µs), NULL for an event
    reason  TEXT    NOT NULL,
    dead_at INTEGER NOT NULL   -- µs since the epoch
);
