-- The keystore's audit trail for analysts (SecretsAccessed on offshore.audit.v1; keystore/README.md).
-- The events name who asked, which request, which secret names, granted or denied and why; never a
-- value, so neither do these views. Pure functions of store.events, like every other view.

-- Secret accesses per owner per UTC day. owner_id is '' when the keystore never read an envelope
-- (a refused token, an unconfirmed request): those are denials without an owner.
CREATE MATERIALIZED VIEW analytics.secret_access_daily AS
SELECT coalesce(payload ->> 'owner_id', '') AS owner_id,
       (occurred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS decisions,
       count(*) FILTER (WHERE (payload ->> 'granted')::boolean) AS granted,
       count(*) FILTER (WHERE NOT (payload ->> 'granted')::boolean) AS denied,
       count(DISTINCT request_id) AS requests,
       count(DISTINCT payload ->> 'sender_id') AS senders
FROM store.events
WHERE event_type = 'SecretsAccessed'
GROUP BY 1, 2;

CREATE UNIQUE INDEX secret_access_daily_pk ON analytics.secret_access_daily (owner_id, day);

-- Every denial, with its reason code (keystore/policy.py REASONS) split out for grouping.
CREATE MATERIALIZED VIEW analytics.secret_denials AS
SELECT event_id,
       request_id,
       occurred_at,
       payload ->> 'caller' AS caller,
       payload ->> 'owner_id' AS owner_id,
       payload ->> 'sender_id' AS sender_id,
       payload ->> 'repo' AS repo,
       payload ->> 'commit' AS commit,
       payload ->> 'key_id' AS key_id,
       split_part(payload ->> 'reason', ':', 1) AS reason_code,
       payload ->> 'reason' AS reason,
       (payload ->> 'observed_height')::bigint AS observed_height
FROM store.events
WHERE event_type = 'SecretsAccessed' AND NOT (payload ->> 'granted')::boolean;

CREATE UNIQUE INDEX secret_denials_pk ON analytics.secret_denials (event_id);
CREATE INDEX secret_denials_owner_idx ON analytics.secret_denials (owner_id, occurred_at);

GRANT SELECT ON analytics.secret_access_daily, analytics.secret_denials TO offshore_analyst, offshore_writer;

-- The refresh function gains the two views (same lock, same order rule: dependencies first).
CREATE OR REPLACE FUNCTION store.refresh_views() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('offshore.projector.refresh'));
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.request_status;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.billing_daily;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.usage_by_code_source;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.stage_latency_hourly;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.audit_timeline;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.secret_access_daily;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.secret_denials;
END
$$;
