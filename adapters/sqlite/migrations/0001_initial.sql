-- Avvio's embedded database, schema version 1. Times are microseconds since the Unix epoch
-- (UTC); documents are the JSON the API shows (runs, contacts) or stores (workspaces).

-- Workspace documents (secrets included) and the API keys selecting them (SHA-256, hex).
CREATE TABLE workspaces (
    ws       TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    ws       TEXT NOT NULL
);

-- Every automation write in order: a version (`doc`), or the automation deleted (`doc` NULL).
-- Replayed into each workspace's catalog when the file is opened.
CREATE TABLE automation_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    ws      TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT
);

-- Contacts: one row each, found by every key (phone, BSUID) it has; `home` is the key it
-- was created by, `key` the one it is listed by (its phone once it has one).
CREATE TABLE contacts (
    id       INTEGER PRIMARY KEY,
    ws       TEXT NOT NULL,
    home     TEXT NOT NULL,
    key      TEXT NOT NULL,
    revision INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX contacts_by_key ON contacts (ws, key);
CREATE TABLE contact_keys (
    ws      TEXT NOT NULL,
    key     TEXT NOT NULL,
    contact INTEGER NOT NULL,
    PRIMARY KEY (ws, key)
) WITHOUT ROWID;
CREATE INDEX contact_keys_by_contact ON contact_keys (contact);
CREATE TABLE list_members (
    ws      TEXT NOT NULL,
    list    TEXT NOT NULL,
    key     TEXT NOT NULL,
    contact INTEGER NOT NULL,
    PRIMARY KEY (ws, list, key)
) WITHOUT ROWID;
CREATE INDEX list_members_by_contact ON list_members (contact);

-- Runs, listed newest first (all, by automation, by contact).
CREATE TABLE runs (
    rowid      INTEGER PRIMARY KEY,
    ws         TEXT NOT NULL,
    id         TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    automation TEXT NOT NULL,
    contact    TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    UNIQUE (ws, id)
);
CREATE INDEX runs_by_start ON runs (ws, started_at, id);
CREATE INDEX runs_by_automation ON runs (ws, automation, started_at, id);
CREATE INDEX runs_by_contact ON runs (ws, contact, started_at, id);

-- Inbound wamids claimed, with the steps their first delivery queued (JSON).
CREATE TABLE claims (
    ws     TEXT NOT NULL,
    wamid  TEXT NOT NULL,
    queued TEXT NOT NULL,
    PRIMARY KEY (ws, wamid)
) WITHOUT ROWID;
-- Outbound wamids: the run step that sent each (delivery statuses come back by it).
CREATE TABLE outbound (
    ws    TEXT NOT NULL,
    wamid TEXT NOT NULL,
    run   TEXT NOT NULL,
    step  TEXT NOT NULL,
    PRIMARY KEY (ws, wamid)
) WITHOUT ROWID;

-- When each date automation next comes due for a contact.
CREATE TABLE date_dues (
    ws         TEXT NOT NULL,
    automation TEXT NOT NULL,
    contact    TEXT NOT NULL,
    at         INTEGER NOT NULL,
    date       TEXT NOT NULL,
    PRIMARY KEY (ws, automation, contact)
) WITHOUT ROWID;
CREATE INDEX date_dues_by_time ON date_dues (at);

-- Stats counters by automation and the UTC day its runs started.
CREATE TABLE stats (
    ws         TEXT NOT NULL,
    automation TEXT NOT NULL,
    day        TEXT NOT NULL,
    counter    TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (ws, day, automation, counter)
) WITHOUT ROWID;
CREATE TABLE stats_days (
    ws           TEXT NOT NULL,
    automation   TEXT NOT NULL,
    day          TEXT NOT NULL,
    last_started INTEGER,
    PRIMARY KEY (ws, day, automation)
) WITHOUT ROWID;

-- The last UTC day the daily template sync was claimed (one row).
CREATE TABLE template_sync (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    day TEXT NOT NULL
);

-- The queues: events for the matcher (acknowledged webhooks, API calls), in arrival order;
-- steps for the executor, by due time. A row leaves once its work is stored.
CREATE TABLE events (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL
);
CREATE TABLE steps (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    due     INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX steps_by_due ON steps (due, id);
