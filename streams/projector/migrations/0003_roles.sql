-- Roles (cluster-wide, so created only if missing; concurrent migrations of other databases may race).
-- offshore_analyst: reads the analytics views, nothing else, writes nothing.
-- offshore_writer:  the projector: appends events, moves its offsets, refreshes the views.
-- Grant them to login roles: CREATE ROLE alice LOGIN IN ROLE offshore_analyst;
DO $$
BEGIN
    CREATE ROLE offshore_analyst NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE offshore_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

REVOKE ALL ON SCHEMA store FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA store FROM PUBLIC;
REVOKE ALL ON SCHEMA analytics FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    -- scratch tables are writes too: only the writer (COPY staging) may create them
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO offshore_analyst, offshore_writer', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO offshore_writer', current_database());
END
$$;

GRANT USAGE ON SCHEMA analytics TO offshore_analyst, offshore_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO offshore_analyst, offshore_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO offshore_analyst, offshore_writer;

GRANT USAGE ON SCHEMA store TO offshore_writer;
GRANT SELECT, INSERT ON store.events TO offshore_writer;
GRANT SELECT, INSERT, UPDATE ON store.projector_offsets TO offshore_writer;
GRANT SELECT, INSERT ON store.rejected_messages TO offshore_writer;
GRANT SELECT ON store.schema_migrations TO offshore_writer;
GRANT EXECUTE ON FUNCTION store.refresh_views() TO offshore_writer;
