-- Roles are cluster-wide. offshore_analyst: reads the analytics views, nothing else, writes nothing.
-- offshore_writer: the projector: appends events, moves its offsets, refreshes the views.
-- Grant them to login roles: CREATE ROLE alice LOGIN IN ROLE offshore_analyst; and give each analyst
-- login a statement_timeout (ALTER ROLE alice SET statement_timeout = '30s': members do not inherit
-- a group's settings). On CloudNativePG the database owner has no CREATEROLE: the cluster creates the
-- roles at bootstrap (postInitSQL in deploy/k8s/base/postgres.yaml) and this only checks they exist.
-- Postgres checks CREATEROLE before existence, so CREATE is attempted only when a role is missing.
DO $$
DECLARE
    missing text[] := ARRAY(
        SELECT r FROM unnest(ARRAY['offshore_analyst', 'offshore_writer']) AS r
        WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)
    );
    name text;
BEGIN
    IF cardinality(missing) > 0
       AND NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'roles % are missing and % may not create them', missing, current_user
            USING HINT = 'create them as superuser first (CloudNativePG: bootstrap.initdb.postInitSQL)';
    END IF;
    FOREACH name IN ARRAY missing LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- a concurrent migration made it
        END;
    END LOOP;
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
