-- 002: case signals, their reference tables (themes, instruments), API tokens, and the weekly
-- aggregate of distinct persons per (area, theme) that detection reads.
-- Privacy: subjects and trajectories are stored only as pseudonyms re-keyed with the server's
-- secret (HMAC-SHA-256, 32 bytes); weeks are stored as the Monday of the ISO week.

CREATE TABLE theme (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{1,31}$'),
    label_nl    text NOT NULL,
    label_en    text NOT NULL,
    sensitive   boolean NOT NULL DEFAULT false
);

INSERT INTO theme (code, label_nl, label_en, sensitive) VALUES
    ('GELD', 'Geldzaken en schulden', 'Money and debt', false),
    ('WERK', 'Werk, opleiding en dagbesteding', 'Work, education and daytime activity', false),
    ('WONEN', 'Wonen', 'Housing', false),
    ('RELATIES', 'Relaties en gezin', 'Relationships and family', false),
    ('OPGROEIEN', 'Opvoeden en opgroeien', 'Parenting and child development', false),
    ('MANTELZORG', 'Mantelzorg', 'Informal care', false),
    ('EENZAAM', 'Eenzaamheid en sociaal netwerk', 'Loneliness and social network', false),
    ('MEEDOEN', 'Meedoen in de buurt', 'Community participation', false),
    ('PSYCHE', 'Psychische gezondheid', 'Mental health', false),
    ('LICHAAM', 'Lichamelijke gezondheid', 'Physical health', false),
    ('MIDDELEN', 'Middelengebruik', 'Substance use', false),
    ('ZELFZORG', 'Zelfzorg en dagelijks leven', 'Self-care and daily living', false),
    ('VEILIG', 'Veiligheid en justitie', 'Safety and justice', true),
    ('OVERIG', 'Overig', 'Other', false);

-- Outcome instruments with their score range; reliability is for the reliable change index.
CREATE TABLE instrument (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_-]{1,31}$'),
    label       text NOT NULL,
    score_min   double precision NOT NULL,
    score_max   double precision NOT NULL,
    higher_is_better boolean NOT NULL DEFAULT true,
    reliability double precision CHECK (reliability > 0 AND reliability < 1),
    CHECK (score_min < score_max)
);

INSERT INTO instrument (code, label, score_min, score_max, higher_is_better, reliability) VALUES
    ('ZRM', 'Zelfredzaamheid-Matrix (1 acuut .. 5 volledig zelfredzaam)', 1, 5, true, 0.80);

-- Bearer tokens: only a SHA-256 hash of the token is kept. A source token writes signals for
-- its organisation (and, when set, only for its source).
CREATE TABLE api_token (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('source', 'teamlead', 'analyst', 'admin')),
    organisation text NOT NULL CHECK (organisation ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    source       text CHECK (source ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- One row per accepted signal. (organisation, source, signal_id) makes re-sending harmless.
CREATE TABLE signal (
    organisation text NOT NULL,
    source       text NOT NULL,
    signal_id    text NOT NULL,
    batch_id     text NOT NULL,
    team         text NOT NULL,
    area_year    smallint NOT NULL,
    area_code    text NOT NULL,
    week         date NOT NULL CHECK (extract(isodow FROM week) = 1),
    kind         text NOT NULL CHECK (kind IN ('need', 'contact', 'outcome', 'trajectory')),
    theme        text NOT NULL REFERENCES theme (code),
    age_band     smallint NOT NULL CHECK (age_band BETWEEN 1 AND 7),
    subject      bytea NOT NULL CHECK (length(subject) = 32),
    trajectory   bytea CHECK (length(trajectory) = 32),
    mode         text CHECK (mode IN ('individual', 'online', 'group')),
    instrument   text REFERENCES instrument (code),
    domain       text,
    phase        text CHECK (phase IN ('intake', 'intermediate', 'end', 'follow_up')),
    score        double precision,
    event        text CHECK (event IN ('opened', 'closed')),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation, source, signal_id),
    FOREIGN KEY (area_year, area_code) REFERENCES area (year, code),
    CHECK ((kind = 'contact') = (mode IS NOT NULL)),
    CHECK ((kind = 'outcome') = (instrument IS NOT NULL AND domain IS NOT NULL
                                 AND phase IS NOT NULL AND score IS NOT NULL)),
    CHECK ((kind = 'trajectory') = (event IS NOT NULL)),
    CHECK (kind <> 'trajectory' OR trajectory IS NOT NULL)
);

CREATE INDEX signal_week ON signal (week);
CREATE INDEX signal_subject ON signal (organisation, subject);

-- Who was counted already: one row per distinct person per (organisation, area, theme, week)
-- with a need signal. Lets the count below stay exact under re-sends and concurrent batches.
CREATE TABLE need_person_week (
    organisation text NOT NULL,
    area_year    smallint NOT NULL,
    area_code    text NOT NULL,
    theme        text NOT NULL,
    week         date NOT NULL,
    subject      bytea NOT NULL,
    PRIMARY KEY (organisation, area_year, area_code, theme, week, subject)
);

-- The series detection reads: distinct persons with a need per (area, theme, week), kept in the
-- same transaction as the signals, so analysis never scans raw signals.
CREATE TABLE need_week_count (
    organisation text NOT NULL,
    area_year    smallint NOT NULL,
    area_code    text NOT NULL,
    theme        text NOT NULL,
    week         date NOT NULL,
    persons      integer NOT NULL CHECK (persons > 0),
    PRIMARY KEY (area_year, area_code, theme, week, organisation)
);
