-- 004: alert delivery. Subscriptions say where an organisation's alerts go (a webhook or an
-- e-mail address); the outbox `delivery` gets one row per subscription for every alert change
-- worth telling, written by a trigger in the same transaction as that change. The alert's public
-- JSON lives in SQL functions here, so the API and the deliveries show the same fields.

-- An escalation (a later run counted more persons) is its own kind of event, because it is sent.
ALTER TABLE alert_event DROP CONSTRAINT alert_event_kind_check;
ALTER TABLE alert_event ADD CONSTRAINT alert_event_kind_check
    CHECK (kind IN ('raised', 'updated', 'escalated', 'state'));

-- The transaction that wrote the event: the pull feed orders by (xid, id) and shows only events
-- of transactions older than every one still running, so a late commit is never skipped.
ALTER TABLE alert_event ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX alert_event_feed ON alert_event (xid, id);

-- The fields of an alert that people and receivers see.
CREATE FUNCTION alert_public(a alert) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', a.id, 'organisation', a.organisation,
        'area_code', a.area_code, 'area_year', a.area_year,
        'area_name', (SELECT name FROM area WHERE year = a.area_year AND code = a.area_code),
        'theme', a.theme, 'theme_label', (SELECT label_nl FROM theme WHERE code = a.theme),
        'state', a.state, 'method', a.method,
        'first_week', to_char(a.first_week, 'IYYY-"W"IW'),
        'last_week', to_char(a.last_week, 'IYYY-"W"IW'), 'observed', a.observed,
        'expected', round(a.expected::numeric, 2), 'upperbound', a.upperbound,
        'ratio', round(a.ratio::numeric, 2), 'pvalue', a.pvalue,
        'recurrence_weeks', round(a.recurrence_weeks::numeric, 1),
        'strength', round(a.strength::numeric, 3), 'trend', a.trend,
        'created_at', a.created_at, 'updated_at', a.updated_at, 'closed_at', a.closed_at)
$$;

-- What a team lead needs to judge an alert besides its figures: the evidence, the area, and the
-- initiatives already there for the theme, in the area or a neighbouring one.
CREATE FUNCTION alert_context(a alert) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('evidence', a.evidence, 'area_population', ar.population,
        'neighbours', ar.neighbours,
        'initiatives', (SELECT coalesce(jsonb_agg(jsonb_build_object('code', i.code,
            'organisation', i.organisation, 'name', i.name, 'themes', i.themes,
            'areas', i.areas, 'contact_role', i.contact_role, 'url', i.url,
            'where', CASE WHEN a.area_code = ANY (i.areas) THEN 'in_area'
                          ELSE 'neighbouring_area' END,
            'started_after_this_alert', i.started_after_alert IS NOT DISTINCT FROM a.id)
            ORDER BY (a.area_code = ANY (i.areas)) DESC, i.name), '[]')
            FROM initiative i WHERE i.active AND a.theme = ANY (i.themes)
            AND i.areas && (ARRAY[a.area_code] || coalesce(ar.neighbours, '{}'))))
    FROM (SELECT 1) one LEFT JOIN area ar ON ar.year = a.area_year AND ar.code = a.area_code
$$;

-- One event as people and receivers see it.
CREATE FUNCTION alert_event_public(e alert_event) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', e.id, 'at', e.at, 'kind', e.kind, 'from', e.from_state,
        'to', e.to_state, 'actor', e.actor, 'note', e.note)
$$;

CREATE TABLE subscription (
    id            bigserial PRIMARY KEY,
    organisation  text NOT NULL CHECK (organisation ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    channel       text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 2000),
    -- Standard Webhooks signing secret (whsec_...); never shown after creation.
    secret        text,
    areas         text[] NOT NULL DEFAULT '{}',
    themes        text[] NOT NULL DEFAULT '{}',
    events        text[] NOT NULL
                  DEFAULT '{alert.raised,alert.escalated,alert.state_changed}'
                  CHECK (events <> '{}' AND events <@
                         '{alert.raised,alert.escalated,alert.state_changed}'::text[]),
    description   text CHECK (length(description) <= 200),
    active        boolean NOT NULL DEFAULT true,
    token_id      bigint REFERENCES api_token (id),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    removed_at    timestamptz,
    CHECK ((channel = 'webhook') = (secret IS NOT NULL)),
    CHECK (channel <> 'webhook' OR target ~ '^https?://'),
    CHECK (channel <> 'email' OR target ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);

CREATE INDEX subscription_org ON subscription (organisation) WHERE active;

-- The outbox: one row per (subscription, event), sent at least once.
CREATE TABLE delivery (
    id              bigserial PRIMARY KEY,
    -- The webhook-id and Message-ID: the same on every attempt, for receivers to deduplicate.
    msg_id          text NOT NULL UNIQUE
                    DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    subscription_id bigint NOT NULL REFERENCES subscription (id),
    organisation    text NOT NULL,
    alert_id        bigint NOT NULL REFERENCES alert (id),
    event_id        bigint NOT NULL REFERENCES alert_event (id),
    type            text NOT NULL
                    CHECK (type IN ('alert.raised', 'alert.escalated', 'alert.state_changed')),
    -- {"alert": ..., "event": ...} as they were when the event happened.
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A daemon sending it holds a lease; an expired lease (the daemon died) frees it again.
    lease_until     timestamptz,
    lease_token     text,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dead_at         timestamptz,
    UNIQUE (subscription_id, event_id)
);

CREATE INDEX delivery_due ON delivery (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX delivery_order ON delivery (subscription_id, alert_id, id) WHERE state = 'pending';
CREATE INDEX delivery_list ON delivery (organisation, state, id);

-- A subscription as people see it: never its secret.
CREATE FUNCTION subscription_public(s subscription) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', s.id, 'organisation', s.organisation, 'channel', s.channel,
        CASE s.channel WHEN 'webhook' THEN 'url' ELSE 'email' END, s.target,
        'areas', s.areas, 'themes', s.themes, 'events', s.events,
        'description', s.description, 'active', s.active, 'created_by', s.created_by,
        'created_at', s.created_at, 'removed_at', s.removed_at)
$$;

-- A delivery as people see it: its state and history, not its payload.
CREATE FUNCTION delivery_public(d delivery) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', d.id, 'msg_id', d.msg_id,
        'subscription_id', d.subscription_id, 'organisation', d.organisation,
        'alert_id', d.alert_id, 'event_id', d.event_id, 'type', d.type, 'state', d.state,
        'attempts', d.attempts, 'next_attempt_at', d.next_attempt_at,
        'last_attempt_at', d.last_attempt_at, 'last_status', d.last_status,
        'last_error', d.last_error, 'created_at', d.created_at,
        'delivered_at', d.delivered_at, 'dead_at', d.dead_at)
$$;

-- The outbox writer: every sendable event gets one delivery per matching active subscription.
CREATE FUNCTION alert_event_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t text := CASE NEW.kind WHEN 'raised' THEN 'alert.raised'
                            WHEN 'escalated' THEN 'alert.escalated'
                            WHEN 'state' THEN 'alert.state_changed' END;
BEGIN
    IF t IS NOT NULL THEN
        INSERT INTO delivery (subscription_id, organisation, alert_id, event_id, type, payload)
        SELECT s.id, s.organisation, a.id, NEW.id, t,
               jsonb_build_object('alert', alert_public(a) || alert_context(a),
                                  'event', alert_event_public(NEW))
        FROM alert a JOIN subscription s ON s.organisation = a.organisation
        WHERE a.id = NEW.alert_id AND s.active AND t = ANY (s.events)
          AND (s.areas = '{}' OR a.area_code = ANY (s.areas))
          AND (s.themes = '{}' OR a.theme = ANY (s.themes));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER alert_event_outbox AFTER INSERT ON alert_event
    FOR EACH ROW EXECUTE FUNCTION alert_event_outbox();
