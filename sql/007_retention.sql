-- 007: retention (BRIEF §5: raw signals are kept 24 months after their trajectory closes,
-- weekly aggregates longer) made cheap by partitioning, and the daily maintenance job.
--
-- signal and need_person_week become partitioned by month. A signal's partition is that of its
-- own week, or of a later week when retention carried it forward because its trajectory was
-- still open (held_week); whole months past the horizon are dropped, only the boundary month
-- is deleted from row by row. Rows for a month without a partition of its own (old back-fills)
-- land in the default partition until the maintenance job gives that month one or removes them.
--
-- The idempotency key moves to signal_key (one row per organisation, source and signal id, no
-- contents), so that a signal id stays unique across partitions and a re-sent export is not
-- stored again after retention removed its rows. Keys go once uploads for their week are no
-- longer accepted (ingest.max_age_weeks).

CREATE TABLE signal_key (
    organisation text NOT NULL,
    source       text NOT NULL,
    signal_id    text NOT NULL,
    week         date NOT NULL,
    PRIMARY KEY (organisation, source, signal_id)
);
CREATE INDEX signal_key_week ON signal_key (week);

INSERT INTO signal_key (organisation, source, signal_id, week)
    SELECT organisation, source, signal_id, week FROM signal;

ALTER TABLE signal RENAME TO signal_unpartitioned;
ALTER TABLE need_person_week RENAME TO need_person_week_unpartitioned;
ALTER INDEX signal_week RENAME TO signal_unpartitioned_week;
ALTER INDEX signal_subject RENAME TO signal_unpartitioned_subject;
ALTER INDEX signal_trajectory RENAME TO signal_unpartitioned_trajectory;
ALTER INDEX signal_kind_week RENAME TO signal_unpartitioned_kind_week;
ALTER TABLE need_person_week_unpartitioned
    RENAME CONSTRAINT need_person_week_pkey TO need_person_week_unpartitioned_pkey;

-- One row per accepted signal (unique through signal_key).
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
    -- The Monday of the week to which retention carried the row forward (NULL: its own week).
    held_week    date CHECK (held_week > week),
    FOREIGN KEY (area_year, area_code) REFERENCES area (year, code),
    CHECK ((kind = 'contact') = (mode IS NOT NULL)),
    CHECK ((kind = 'outcome') = (instrument IS NOT NULL AND domain IS NOT NULL
                                 AND phase IS NOT NULL AND score IS NOT NULL)),
    CHECK ((kind = 'trajectory') = (event IS NOT NULL)),
    CHECK (kind <> 'trajectory' OR trajectory IS NOT NULL)
) PARTITION BY RANGE ((COALESCE(held_week, week)));

CREATE TABLE signal_default PARTITION OF signal DEFAULT;
CREATE INDEX signal_week ON signal (week);
CREATE INDEX signal_subject ON signal (organisation, subject);
CREATE INDEX signal_trajectory ON signal (organisation, trajectory, kind)
    WHERE trajectory IS NOT NULL;
CREATE INDEX signal_kind_week ON signal (kind, week, organisation);

CREATE TABLE need_person_week (
    organisation text NOT NULL,
    area_year    smallint NOT NULL,
    area_code    text NOT NULL,
    theme        text NOT NULL,
    week         date NOT NULL,
    subject      bytea NOT NULL,
    PRIMARY KEY (organisation, area_year, area_code, theme, week, subject)
) PARTITION BY RANGE (week);

CREATE TABLE need_person_week_default PARTITION OF need_person_week DEFAULT;

-- Gives table p_table (signal or need_person_week) a partition for the month of p_month, named
-- TABLE_yYYYYmMM, moving that month's rows out of the default partition first. Idempotent.
CREATE FUNCTION wr_partition_month(p_table text, p_month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    lo   date := date_trunc('month', p_month)::date;
    hi   date := (date_trunc('month', p_month) + interval '1 month')::date;
    part text := format('%s_y%sm%s', p_table, to_char(lo, 'YYYY'), to_char(lo, 'MM'));
    key  text := CASE p_table WHEN 'signal' THEN 'COALESCE(held_week, week)' ELSE 'week' END;
BEGIN
    IF p_table NOT IN ('signal', 'need_person_week') THEN
        RAISE EXCEPTION 'wr_partition_month: unknown table %', p_table;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part, p_table);
    -- The bound as a constraint first: ATTACH then need not scan the new partition.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%s >= %L AND %s < %L)',
                   part, part || '_bound', key, lo, key, hi);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %s >= %L AND %s < %L RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved',
                   p_table || '_default', key, lo, key, hi, part);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   p_table, part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_bound');
    RETURN true;
END $$;

-- Months from the retention horizon of the default 24 months to three months ahead, for the
-- rows copied below and the uploads to come; older rows stay in the default partitions until
-- retention removes them.
SELECT wr_partition_month(t, m::date)
    FROM unnest(ARRAY['signal', 'need_person_week']) AS t,
         generate_series(date_trunc('month', now() - interval '25 months'),
                         date_trunc('month', now() + interval '3 months'),
                         interval '1 month') AS m;

INSERT INTO signal (organisation, source, signal_id, batch_id, team, area_year, area_code, week,
                    kind, theme, age_band, subject, trajectory, mode, instrument, domain, phase,
                    score, event, received_at)
    SELECT organisation, source, signal_id, batch_id, team, area_year, area_code, week, kind,
           theme, age_band, subject, trajectory, mode, instrument, domain, phase, score, event,
           received_at
    FROM signal_unpartitioned;
INSERT INTO need_person_week SELECT * FROM need_person_week_unpartitioned;
DROP TABLE signal_unpartitioned;
DROP TABLE need_person_week_unpartitioned;

-- One row per maintenance run that did its work (one a day, over all replicas).
CREATE TABLE maintenance_run (
    id                bigserial PRIMARY KEY,
    ran_on            date NOT NULL UNIQUE,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    retention         boolean NOT NULL,
    horizon           date,
    partitions_made   integer NOT NULL,
    partitions_dropped integer NOT NULL,
    signals_carried   integer NOT NULL,
    signals_removed   bigint NOT NULL,
    persons_removed   bigint NOT NULL,
    keys_removed      bigint NOT NULL
);

-- The daily maintenance: partitions for the coming months, then (p_retention) retention with
-- horizon = the Monday on or before p_today minus p_months months:
--   * signals of trajectories still open, or closed on or after the horizon, are carried
--     forward to the current week's partition (held_week);
--   * every other signal whose week (or held week) is before the horizon is removed: whole
--     monthly partitions are dropped, the boundary month and the default partition are
--     deleted from; a trajectory is closed when its latest event is 'closed', and signals
--     without a trajectory or whose trajectory has no events go by their own week;
--   * need_person_week rows (pseudonyms per week) before the horizon likewise;
--   * idempotency keys of weeks more than p_key_weeks before p_today.
-- need_week_count, alerts, runs and logs are kept. Runs once per p_today over all replicas:
-- returns status 'busy' when another session holds the job, 'done' when it ran already that
-- day (unless p_force, as `wijkradar maintain` does).
CREATE FUNCTION wr_maintain(p_today date, p_retention boolean, p_months integer,
                            p_key_weeks integer, p_force boolean)
RETURNS TABLE (status text, horizon date, partitions_made integer, partitions_dropped integer,
               signals_carried integer, signals_removed bigint, persons_removed bigint,
               keys_removed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    started  timestamptz := clock_timestamp();
    monday   date := date_trunc('week', p_today)::date;
    h        date;
    made     integer := 0;
    dropped  integer := 0;
    carried  integer := 0;
    removed  bigint := 0;
    persons  bigint := 0;
    keys     bigint := 0;
    n        bigint;
    t        text;
    part     record;
BEGIN
    -- "wijkmain" in ASCII: one maintenance at a time over all replicas. A forced run (an
    -- operator's) waits for the one in progress; a scheduled one leaves it be.
    IF p_force THEN
        PERFORM pg_advisory_xact_lock(8604525572781073518);
    ELSIF NOT pg_try_advisory_xact_lock(8604525572781073518) THEN
        RETURN QUERY SELECT 'busy'::text, NULL::date, 0, 0, 0, 0::bigint, 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF NOT p_force AND EXISTS (SELECT 1 FROM maintenance_run r WHERE r.ran_on = p_today) THEN
        RETURN QUERY SELECT 'done'::text, NULL::date, 0, 0, 0, 0::bigint, 0::bigint, 0::bigint;
        RETURN;
    END IF;

    FOREACH t IN ARRAY ARRAY['signal', 'need_person_week'] LOOP
        FOR part IN SELECT generate_series(date_trunc('month', p_today),
                                           date_trunc('month', p_today) + interval '3 months',
                                           interval '1 month')::date AS m LOOP
            IF wr_partition_month(t, part.m) THEN
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;

    IF p_retention THEN
        h := date_trunc('week', p_today - make_interval(months => p_months))::date;

        CREATE TEMP TABLE wr_live ON COMMIT DROP AS
            SELECT s.organisation, s.trajectory
            FROM signal s
            WHERE s.kind = 'trajectory'
            GROUP BY s.organisation, s.trajectory
            HAVING NOT coalesce(
                max(s.week) FILTER (WHERE s.event = 'closed') < h
                AND max(s.week) FILTER (WHERE s.event = 'closed')
                    >= coalesce(max(s.week) FILTER (WHERE s.event = 'opened'), '-infinity'),
                false);
        ALTER TABLE wr_live ADD PRIMARY KEY (organisation, trajectory);

        UPDATE signal s SET held_week = monday
            FROM wr_live l
            WHERE COALESCE(s.held_week, s.week) < h
              AND s.trajectory = l.trajectory AND s.organisation = l.organisation;
        GET DIAGNOSTICS carried = ROW_COUNT;

        FOREACH t IN ARRAY ARRAY['signal', 'need_person_week'] LOOP
            FOR part IN
                SELECT c.relname,
                       to_date(substring(c.relname FROM '_y([0-9]{4}m[0-9]{2})$'), 'YYYY"m"MM')
                           AS m
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = t::regclass AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
                ORDER BY 2
            LOOP
                EXIT WHEN (part.m + interval '1 month')::date > h;
                EXECUTE format('SELECT count(*) FROM %I', part.relname) INTO n;
                EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, part.relname);
                EXECUTE format('DROP TABLE %I', part.relname);
                dropped := dropped + 1;
                IF t = 'signal' THEN
                    removed := removed + n;
                ELSE
                    persons := persons + n;
                END IF;
            END LOOP;
        END LOOP;

        -- The boundary month and the default partition.
        DELETE FROM signal s WHERE COALESCE(s.held_week, s.week) < h;
        GET DIAGNOSTICS n = ROW_COUNT;
        removed := removed + n;
        DELETE FROM need_person_week p WHERE p.week < h;
        GET DIAGNOSTICS n = ROW_COUNT;
        persons := persons + n;
        -- Carried signals whose trajectory has closed before the horizon since.
        DELETE FROM signal s
            WHERE s.held_week IS NOT NULL AND s.week < h
              AND NOT EXISTS (SELECT 1 FROM wr_live l
                              WHERE l.organisation = s.organisation
                                AND l.trajectory = s.trajectory);
        GET DIAGNOSTICS n = ROW_COUNT;
        removed := removed + n;
        DELETE FROM signal_key k WHERE k.week < p_today - 7 * p_key_weeks;
        GET DIAGNOSTICS keys = ROW_COUNT;
    END IF;

    INSERT INTO maintenance_run (ran_on, started_at, retention, horizon, partitions_made,
                                 partitions_dropped, signals_carried, signals_removed,
                                 persons_removed, keys_removed)
        VALUES (p_today, started, p_retention, h, made, dropped, carried, removed, persons,
                keys)
        ON CONFLICT (ran_on) DO UPDATE SET
            started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
            retention = EXCLUDED.retention, horizon = EXCLUDED.horizon,
            partitions_made = EXCLUDED.partitions_made,
            partitions_dropped = EXCLUDED.partitions_dropped,
            signals_carried = EXCLUDED.signals_carried,
            signals_removed = EXCLUDED.signals_removed,
            persons_removed = EXCLUDED.persons_removed, keys_removed = EXCLUDED.keys_removed;
    RETURN QUERY SELECT 'ran'::text, h, made, dropped, carried, removed, persons, keys;
END $$;
