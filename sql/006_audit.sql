-- 006: who read what, when: one row per read of alerts, effects and benchmarks (and of the
-- delivery outbox), never the contents of the answer. Written when the read is asked for.
CREATE TABLE audit_read (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    token_id     bigint REFERENCES api_token (id),
    role         text NOT NULL,
    organisation text NOT NULL,
    resource     text NOT NULL
                 CHECK (resource IN ('alerts', 'alert', 'alert_changes', 'benchmark', 'effects',
                                     'deliveries', 'subscriptions')),
    target       text CHECK (length(target) <= 200),
    request_id   text CHECK (length(request_id) <= 64)
);

CREATE INDEX audit_read_at ON audit_read (at);
CREATE INDEX audit_read_organisation ON audit_read (organisation, at);
