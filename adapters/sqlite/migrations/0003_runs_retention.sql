-- When an ended run is deleted (`runs_retention` after it ended): NULL while it is active.
-- The clock deletes the runs whose time has come (`Store::forget_expired_runs`).
ALTER TABLE runs ADD COLUMN expires_at INTEGER;
CREATE INDEX runs_by_expiry ON runs (expires_at) WHERE expires_at IS NOT NULL;
