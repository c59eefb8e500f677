-- Delivery statuses of messages whose send is not stored yet (issue 17): kept by wamid until
-- the step's result is written (then applied and deleted) or, for a message Avvio did not
-- send, for a day.
CREATE TABLE parked_statuses (
    ws        TEXT    NOT NULL,
    wamid     TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    parked_at INTEGER NOT NULL,
    PRIMARY KEY (ws, wamid, seq)
) WITHOUT ROWID;
CREATE INDEX parked_statuses_by_age ON parked_statuses (parked_at);
