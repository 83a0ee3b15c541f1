-- Materialised views for analysts. Each has a unique index (REFRESH ... CONCURRENTLY needs one) and
-- is a pure function of store.events: no insertion time, no Kafka position, every pick ordered by a
-- total order (time, then event id), so a rebuild from the topics gives identical rows.
CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per request: who, what, per-stage timestamps (producer clocks) and the outcome.
-- Status: the chain's verdict when there is one (succeeded | failed | timed_out | cancelled),
-- else the furthest pipeline step (expired | settlement_skipped | resolution_submitted | executed |
-- compile_failed | compiled | requested).
CREATE MATERIALIZED VIEW analytics.request_status AS
WITH stages AS (
    SELECT request_id,
           count(*) AS event_count,
           count(*) FILTER (WHERE event_type = 'DeadLetter') AS dead_letters,
           bool_or(has_secrets) AS has_secrets,
           min(occurred_at) FILTER (WHERE event_type = 'ExecutionRequested') AS requested_at,
           min(occurred_at) FILTER (WHERE event_type IN ('WasmCompiled', 'CompilationFailed')) AS compiled_at,
           min(occurred_at) FILTER (WHERE event_type = 'ExecutionFinished') AS executed_at,
           min(occurred_at) FILTER (WHERE event_type = 'ResolutionSubmitted') AS resolution_submitted_at,
           min(occurred_at) FILTER (WHERE event_type = 'SettlementSkipped') AS settlement_skipped_at,
           min(occurred_at) FILTER (WHERE event_type = 'RequestExpired') AS expired_at,
           min(occurred_at) FILTER (WHERE event_type = 'ExecutionCompleted') AS completed_at,
           min(occurred_at) FILTER (WHERE event_type = 'ExecutionCancelled') AS cancelled_at,
           max(occurred_at) AS last_event_at,
           (array_agg(payload ->> 'reason' ORDER BY occurred_at DESC, event_id DESC)
               FILTER (WHERE event_type = 'SettlementSkipped'))[1] AS skip_reason,
           (array_agg(payload ->> 'stage' ORDER BY occurred_at DESC, event_id DESC)
               FILTER (WHERE event_type = 'RequestExpired'))[1] AS expired_stage,
           (array_agg(payload ->> 'tx_hash' ORDER BY occurred_at DESC, event_id DESC)
               FILTER (WHERE event_type = 'ResolutionSubmitted'))[1] AS resolution_tx_hash
    FROM store.events
    WHERE request_id <> ''
    GROUP BY request_id
),
requested AS (
    SELECT DISTINCT ON (request_id) request_id, payload, block_height, block_time
    FROM store.events WHERE event_type = 'ExecutionRequested'
    ORDER BY request_id, occurred_at, event_id
),
carried AS (  -- the request as downstream events carry it, for when the original was not seen
    SELECT DISTINCT ON (request_id) request_id, payload -> 'request' AS payload
    FROM store.events WHERE event_type IN ('WasmCompiled', 'CompilationFailed', 'ExecutionFinished')
    ORDER BY request_id, occurred_at, event_id
),
compiled AS (  -- the latest compile outcome: a re-driven request may compile again
    SELECT DISTINCT ON (request_id) request_id, event_type, payload
    FROM store.events WHERE event_type IN ('WasmCompiled', 'CompilationFailed')
    ORDER BY request_id, occurred_at DESC, event_id DESC
),
executed AS (
    SELECT DISTINCT ON (request_id) request_id, payload
    FROM store.events WHERE event_type = 'ExecutionFinished'
    ORDER BY request_id, occurred_at DESC, event_id DESC
),
completed AS (  -- the chain settles a request once; the first by block is authoritative
    SELECT DISTINCT ON (request_id) request_id, payload, block_height, block_time
    FROM store.events WHERE event_type = 'ExecutionCompleted'
    ORDER BY request_id, block_height, event_id
),
cancelled AS (
    SELECT DISTINCT ON (request_id) request_id, payload, block_height, block_time
    FROM store.events WHERE event_type = 'ExecutionCancelled'
    ORDER BY request_id, block_height, event_id
)
SELECT
    s.request_id,
    coalesce(rq.payload ->> 'sender_id', ca.payload ->> 'sender_id', co.payload ->> 'sender_id') AS sender_id,
    coalesce(rq.payload, ca.payload) -> 'code_source' ->> 'repo' AS repo,
    coalesce(rq.payload, ca.payload) -> 'code_source' ->> 'commit' AS commit,
    coalesce(rq.payload, ca.payload) -> 'code_source' ->> 'build_target' AS build_target,
    coalesce(rq.payload, ca.payload) -> 'code_source' ->> 'path' AS code_path,
    coalesce(rq.payload, ca.payload) ->> 'response_format' AS response_format,
    (coalesce(rq.payload, ca.payload) ->> 'payment')::numeric AS payment_yocto,
    s.has_secrets,
    CASE
        WHEN co.request_id IS NOT NULL THEN
            CASE WHEN (co.payload ->> 'success')::boolean THEN 'succeeded'
                 WHEN co.payload ->> 'error' = 'timeout' THEN 'timed_out'
                 ELSE 'failed' END
        WHEN cn.request_id IS NOT NULL THEN 'cancelled'
        WHEN s.expired_at IS NOT NULL THEN 'expired'
        WHEN s.settlement_skipped_at IS NOT NULL THEN 'settlement_skipped'
        WHEN s.resolution_submitted_at IS NOT NULL THEN 'resolution_submitted'
        WHEN s.executed_at IS NOT NULL THEN 'executed'
        WHEN cp.event_type = 'CompilationFailed' THEN 'compile_failed'
        WHEN cp.event_type = 'WasmCompiled' THEN 'compiled'
        ELSE 'requested'
    END AS status,
    (co.request_id IS NOT NULL OR cn.request_id IS NOT NULL) AS is_final,
    s.requested_at,
    s.compiled_at,
    s.executed_at,
    s.resolution_submitted_at,
    s.settlement_skipped_at,
    s.expired_at,
    s.completed_at,
    s.cancelled_at,
    s.last_event_at,
    rq.block_height AS requested_block_height,
    rq.block_time AS requested_block_time,
    coalesce(co.block_height, cn.block_height) AS settled_block_height,
    coalesce(co.block_time, cn.block_time) AS settled_block_time,
    CASE cp.event_type
        WHEN 'CompilationFailed' THEN 'failed'
        WHEN 'WasmCompiled' THEN CASE WHEN (cp.payload ->> 'cache_hit')::boolean THEN 'cache_hit' ELSE 'built' END
    END AS compile_outcome,
    coalesce(ex.payload ->> 'wasm_sha256',
             CASE WHEN cp.event_type = 'WasmCompiled' THEN cp.payload ->> 'wasm_sha256' END) AS wasm_sha256,
    (ex.payload ->> 'success')::boolean AS execution_success,
    coalesce(ex.payload ->> 'error_kind',
             CASE WHEN cp.event_type = 'CompilationFailed' THEN cp.payload ->> 'error_kind' END) AS error_kind,
    coalesce(co.payload ->> 'error', ex.payload ->> 'error',
             CASE WHEN cp.event_type = 'CompilationFailed' THEN cp.payload ->> 'error' END) AS error,
    s.skip_reason,
    s.expired_stage,
    s.resolution_tx_hash,
    -- resources: what the chain billed, else what the executor measured
    coalesce((co.payload -> 'resources_used' ->> 'instructions')::bigint,
             (ex.payload -> 'resources_used' ->> 'instructions')::bigint) AS instructions,
    coalesce((co.payload -> 'resources_used' ->> 'time_ms')::bigint,
             (ex.payload -> 'resources_used' ->> 'time_ms')::bigint) AS time_ms,
    coalesce((co.payload -> 'resources_used' ->> 'compile_time_ms')::bigint,
             (ex.payload -> 'resources_used' ->> 'compile_time_ms')::bigint,
             (cp.payload ->> 'compile_time_ms')::bigint) AS compile_time_ms,
    (co.payload ->> 'payment_charged')::numeric AS charged_yocto,
    coalesce((co.payload ->> 'payment_refunded')::numeric, (cn.payload ->> 'refunded')::numeric) AS refunded_yocto,
    s.event_count,
    s.dead_letters
FROM stages s
LEFT JOIN requested rq USING (request_id)
LEFT JOIN carried ca USING (request_id)
LEFT JOIN compiled cp USING (request_id)
LEFT JOIN executed ex USING (request_id)
LEFT JOIN completed co USING (request_id)
LEFT JOIN cancelled cn USING (request_id);

CREATE UNIQUE INDEX request_status_pk ON analytics.request_status (request_id);
CREATE INDEX request_status_sender_idx ON analytics.request_status (sender_id, requested_at);
CREATE INDEX request_status_status_idx ON analytics.request_status (status);

-- Money per payer per UTC day of the settling block: the chain's own numbers (ExecutionCompleted
-- payment_charged / payment_refunded, and ExecutionCancelled refunds), summed as exact numerics.
CREATE MATERIALIZED VIEW analytics.billing_daily AS
WITH facts AS (
    SELECT coalesce(e.payload ->> 'sender_id', '(unknown)') AS payer,
           (coalesce(e.block_time, e.occurred_at) AT TIME ZONE 'UTC')::date AS day,
           false AS is_cancel,
           (e.payload ->> 'success')::boolean AS success,
           e.payload ->> 'error' AS error,
           (e.payload -> 'resources_used' ->> 'instructions')::numeric AS instructions,
           (e.payload -> 'resources_used' ->> 'time_ms')::numeric AS time_ms,
           (e.payload -> 'resources_used' ->> 'compile_time_ms')::numeric AS compile_time_ms,
           (e.payload ->> 'payment_charged')::numeric AS charged,
           (e.payload ->> 'payment_refunded')::numeric AS refunded
    FROM store.events e
    WHERE e.event_type = 'ExecutionCompleted'
    UNION ALL
    SELECT coalesce(r.sender_id, '(unknown)'),
           (coalesce(e.block_time, e.occurred_at) AT TIME ZONE 'UTC')::date,
           true,
           false,
           NULL,
           0::numeric,
           0::numeric,
           0::numeric,
           0::numeric,
           (e.payload ->> 'refunded')::numeric
    FROM store.events e
    LEFT JOIN analytics.request_status r USING (request_id)
    WHERE e.event_type = 'ExecutionCancelled'
)
SELECT payer,
       day,
       count(*) AS requests,
       count(*) FILTER (WHERE NOT is_cancel AND success) AS succeeded,
       count(*) FILTER (WHERE NOT is_cancel AND NOT success) AS failed,
       count(*) FILTER (WHERE NOT is_cancel AND NOT success AND error = 'timeout') AS timed_out,
       count(*) FILTER (WHERE is_cancel) AS cancelled,
       sum(instructions) AS instructions,
       sum(time_ms) AS time_ms,
       sum(compile_time_ms) AS compile_time_ms,
       sum(charged) AS charged_yocto,
       sum(refunded) AS refunded_yocto
FROM facts
GROUP BY payer, day;

CREATE UNIQUE INDEX billing_daily_pk ON analytics.billing_daily (payer, day);
CREATE INDEX billing_daily_day_idx ON analytics.billing_daily (day);

-- Usage per code source (repo, commit, build target) and the wasm it produced ('' when none).
CREATE MATERIALIZED VIEW analytics.usage_by_code_source AS
SELECT coalesce(repo, '') AS repo,
       coalesce(commit, '') AS commit,
       coalesce(build_target, '') AS build_target,
       coalesce(wasm_sha256, '') AS wasm_sha256,
       count(*) AS requests,
       count(*) FILTER (WHERE compile_outcome = 'built') AS builds,
       count(*) FILTER (WHERE compile_outcome = 'cache_hit') AS cache_hits,
       count(*) FILTER (WHERE compile_outcome = 'failed') AS compile_failures,
       count(*) FILTER (WHERE executed_at IS NOT NULL) AS executions,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status IN ('failed', 'timed_out')) AS failed,
       coalesce(sum(instructions), 0) AS instructions,
       coalesce(sum(time_ms), 0) AS time_ms,
       coalesce(sum(compile_time_ms), 0) AS compile_time_ms,
       coalesce(sum(charged_yocto), 0) AS charged_yocto,
       coalesce(sum(refunded_yocto), 0) AS refunded_yocto,
       min(requested_at) AS first_requested_at,
       max(requested_at) AS last_requested_at
FROM analytics.request_status
GROUP BY 1, 2, 3, 4;

CREATE UNIQUE INDEX usage_by_code_source_pk
    ON analytics.usage_by_code_source (repo, commit, build_target, wasm_sha256);

-- Latency per stage per hour (UTC, by the time the stage ended), from producer timestamps:
-- compile = requested -> compiled, execute = compiled -> executed, settle = executed -> resolution
-- submitted, chain = submitted -> settled on chain, end_to_end = requested -> settled on chain.
CREATE MATERIALIZED VIEW analytics.stage_latency_hourly AS
SELECT date_trunc('hour', v.ended_at, 'UTC') AS hour,
       v.stage,
       count(*) AS samples,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v.ms)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY v.ms)::numeric, 3) AS p90_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY v.ms)::numeric, 3) AS p99_ms,
       round(max(v.ms)::numeric, 3) AS max_ms
FROM analytics.request_status r
CROSS JOIN LATERAL (
    SELECT stage, ended_at, (extract(epoch FROM ended_at - started_at) * 1000)::float8 AS ms
    FROM (VALUES
        ('compile', r.compiled_at, r.requested_at),
        ('execute', r.executed_at, r.compiled_at),
        ('settle', r.resolution_submitted_at, r.executed_at),
        ('chain', r.completed_at, r.resolution_submitted_at),
        ('end_to_end', r.completed_at, r.requested_at)
    ) AS spans (stage, ended_at, started_at)
    WHERE ended_at IS NOT NULL AND started_at IS NOT NULL
) AS v
GROUP BY 1, 2;

CREATE UNIQUE INDEX stage_latency_hourly_pk ON analytics.stage_latency_hourly (hour, stage);

-- Every event of every request in order, with a one-line human summary: the audit trail.
-- `details` is the stored payload without the request copy that downstream events carry.
CREATE MATERIALIZED VIEW analytics.audit_timeline AS
SELECT e.request_id,
       row_number() OVER (PARTITION BY e.request_id ORDER BY e.occurred_at, e.event_id) AS seq,
       e.event_id,
       e.event_type,
       e.occurred_at,
       e.producer,
       e.block_height,
       e.block_time,
       e.has_secrets,
       CASE e.event_type
           WHEN 'ExecutionRequested' THEN format('requested by %s: %s @ %s (%s), deposit %s yocto',
               p ->> 'sender_id', p -> 'code_source' ->> 'repo', p -> 'code_source' ->> 'commit',
               p -> 'code_source' ->> 'build_target', p ->> 'payment')
           WHEN 'WasmCompiled' THEN format('compiled wasm %s (%s bytes) in %s ms%s',
               p ->> 'wasm_sha256', p ->> 'wasm_size', p ->> 'compile_time_ms',
               CASE WHEN (p ->> 'cache_hit')::boolean THEN ', cache hit' ELSE '' END)
           WHEN 'CompilationFailed' THEN format('compilation failed (%s): %s', p ->> 'error_kind', p ->> 'error')
           WHEN 'ExecutionFinished' THEN
               CASE WHEN (p ->> 'success')::boolean
                   THEN format('executed: %s instructions, %s ms',
                       p -> 'resources_used' ->> 'instructions', p -> 'resources_used' ->> 'time_ms')
                   ELSE format('execution failed (%s): %s', p ->> 'error_kind', p ->> 'error') END
           WHEN 'ResolutionSubmitted' THEN format('resolution submitted (success=%s) in tx %s, attempt %s',
               p ->> 'success', p ->> 'tx_hash', p ->> 'attempts')
           WHEN 'SettlementSkipped' THEN format('settlement skipped: %s (chain status %s)',
               p ->> 'reason', coalesce(p ->> 'chain_status', 'unknown'))
           WHEN 'RequestExpired' THEN format('expired in %s: deadline height %s, observed %s',
               p ->> 'stage', p ->> 'deadline_height', p ->> 'observed_height')
           WHEN 'ExecutionCompleted' THEN format('settled on chain: %s; charged %s yocto, refunded %s yocto',
               CASE WHEN (p ->> 'success')::boolean THEN 'success' ELSE 'failure: ' || coalesce(p ->> 'error', '') END,
               p ->> 'payment_charged', p ->> 'payment_refunded')
           WHEN 'ExecutionCancelled' THEN format('cancelled on chain (%s), refunded %s yocto',
               p ->> 'reason', p ->> 'refunded')
           WHEN 'DeadLetter' THEN format('dead-lettered by %s from %s[%s]@%s: %s: %s',
               p ->> 'stage', p ->> 'source_topic', p ->> 'partition', p ->> 'offset',
               p ->> 'error_type', p ->> 'error')
           ELSE e.event_type
       END AS summary,
       p - 'request' AS details
FROM store.events e
CROSS JOIN LATERAL (SELECT e.payload AS p) AS x;

CREATE UNIQUE INDEX audit_timeline_pk ON analytics.audit_timeline (event_id);
CREATE INDEX audit_timeline_request_idx ON analytics.audit_timeline (request_id, seq);

-- One consistent refresh of every view, in dependency order, runnable by the writer role without
-- owning the views (PostgreSQL 15 lets only the owner refresh). Serialised by an advisory lock.
CREATE FUNCTION store.refresh_views() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('offshore.projector.refresh'));
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.request_status;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.billing_daily;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.usage_by_code_source;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.stage_latency_hourly;
    REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.audit_timeline;
END
$$;
REVOKE ALL ON FUNCTION store.refresh_views() FROM PUBLIC;
