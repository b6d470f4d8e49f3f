-- 005: what the effect and benchmark reports read besides the signals: a log of every upload
-- (accepted or rejected, counts only) for the data-quality indicator, and indexes for the
-- per-quarter report queries.

-- One row per upload answered 200 or 422: how many records came, were stored, were rejected.
CREATE TABLE ingest_log (
    id           bigserial PRIMARY KEY,
    organisation text NOT NULL,
    source       text NOT NULL,
    batch_id     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    received     integer NOT NULL CHECK (received >= 0),
    stored       integer NOT NULL CHECK (stored >= 0),
    rejected     integer NOT NULL CHECK (rejected >= 0)
);

CREATE INDEX ingest_log_org ON ingest_log (organisation, received_at);

-- Trajectories: their events, contacts and measurements, per organisation.
CREATE INDEX signal_trajectory ON signal (organisation, trajectory, kind)
    WHERE trajectory IS NOT NULL;
-- The care signals of a period.
CREATE INDEX signal_kind_week ON signal (kind, week, organisation);
