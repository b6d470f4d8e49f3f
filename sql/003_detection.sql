-- 003: detection runs, alerts with their life cycle, and the registry of existing collective
-- initiatives that an alert lists ("what is already there").

-- One row per analysis run (scheduled, on demand from the CLI or the admin API).
CREATE TABLE analysis_run (
    id             bigserial PRIMARY KEY,
    week           date NOT NULL CHECK (extract(isodow FROM week) = 1),
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'cli', 'api')),
    requested_by   text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'succeeded', 'failed')),
    series_total   integer,
    series_analysed integer,
    alerts_raised  integer,
    alerts_updated integer,
    duration_ms    double precision,
    error          text
);

CREATE INDEX analysis_run_week ON analysis_run (week, status);

-- An alert: a need that recurs in one area more than expected. One open alert per
-- (organisation, area, theme): a later run updates it instead of raising another.
CREATE TABLE alert (
    id             bigserial PRIMARY KEY,
    organisation   text NOT NULL,
    area_year      smallint NOT NULL,
    area_code      text NOT NULL,
    theme          text NOT NULL REFERENCES theme (code),
    state          text NOT NULL DEFAULT 'new'
                   CHECK (state IN ('new', 'acknowledged', 'initiative_started', 'closed')),
    method         text NOT NULL,
    first_week     date NOT NULL,
    last_week      date NOT NULL,
    observed       integer NOT NULL,
    expected       double precision NOT NULL,
    upperbound     double precision,
    ratio          double precision NOT NULL,
    pvalue         double precision,
    recurrence_weeks double precision,
    strength       double precision NOT NULL,
    trend          text NOT NULL CHECK (trend IN ('rising', 'falling', 'none')),
    evidence       jsonb NOT NULL,
    run_id         bigint REFERENCES analysis_run (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    FOREIGN KEY (area_year, area_code) REFERENCES area (year, code)
);

CREATE UNIQUE INDEX alert_one_open ON alert (organisation, area_code, theme)
    WHERE state <> 'closed';
CREATE INDEX alert_list ON alert (organisation, state, strength DESC);

-- The life cycle of each alert: who changed what, when (token ids, not names of people).
CREATE TABLE alert_event (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alert (id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('raised', 'updated', 'state')),
    from_state  text,
    to_state    text,
    token_id    bigint REFERENCES api_token (id),
    actor       text NOT NULL,
    note        text CHECK (length(note) <= 500)
);

CREATE INDEX alert_event_alert ON alert_event (alert_id, at);

-- Existing collective initiatives (a walking club, a debt café): contact by role, never a
-- person's name.
CREATE TABLE initiative (
    id            bigserial PRIMARY KEY,
    organisation  text NOT NULL,
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    themes        text[] NOT NULL,
    areas         text[] NOT NULL,
    contact_role  text CHECK (length(contact_role) <= 200),
    url           text CHECK (url ~ '^https?://'),
    active        boolean NOT NULL DEFAULT true,
    started_after_alert bigint REFERENCES alert (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organisation, code)
);

CREATE INDEX initiative_areas ON initiative USING gin (areas);

-- Detection reads the counts of one week, then the history of the series that could alert.
CREATE INDEX need_week_count_week ON need_week_count (week, organisation);
CREATE INDEX need_week_count_series ON need_week_count (organisation, area_code, theme, week);
