-- The append-only event store: one row per event id, whatever topic or replay it came from.
CREATE SCHEMA IF NOT EXISTS store;

CREATE TABLE store.events (
    event_id        text PRIMARY KEY,
    request_id      text NOT NULL,
    event_type      text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    producer        text NOT NULL,
    block_height    bigint,                -- chain events only
    block_time      timestamptz,           -- chain events only: UTC block timestamp (billing day)
    has_secrets     boolean NOT NULL,      -- the request carried encrypted secrets (never stored)
    payload         jsonb NOT NULL,        -- the event body without header columns and secrets
    topic           text NOT NULL,         -- where it was first read
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    projected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_request_idx ON store.events (request_id, occurred_at, event_id);
CREATE INDEX events_type_idx ON store.events (event_type);

-- Append-only by construction, not by convention: history is never rewritten.
CREATE FUNCTION store.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'store.events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON store.events
    FOR EACH ROW EXECUTE FUNCTION store.reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON store.events
    FOR EACH STATEMENT EXECUTE FUNCTION store.reject_change();

-- The projector's position, written in the same transaction as the rows it covers. It is the
-- authority on where to resume (Kafka commits follow it), so a fresh database re-reads every topic.
CREATE TABLE store.projector_offsets (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Messages that are not events (undecodable): recorded, never blocking a partition. The payload
-- itself is not kept (it may hold secrets); its size and hash identify it.
CREATE TABLE store.rejected_messages (
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    error_type      text NOT NULL,
    error           text NOT NULL,
    payload_size    integer NOT NULL,
    payload_sha256  text NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
