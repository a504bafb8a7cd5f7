-- The SQL sink's least-privilege role (psql script; docker-compose runs it once, when the
-- PostgreSQL volume is first initialised, through deploy/postgres/initdb/10-sink-role.sh).
--
--   psql -v sink_role=motcua_sink -v sink_password=... -v owner=motcua -f sink-role.sql
--
-- The owner (POSTGRES_USER) runs the migrations (`motcua db upgrade`, compose service
-- `migrate`); the sink logs in as :sink_role, which may read and write rows of every table
-- and use their sequences, and nothing else: no DDL, no other database, no role changes.
-- Tables a later migration creates are covered by the default privileges below. On an
-- existing database run this script once by hand (docs/operations.md, "Least privilege").
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE',
              :'sink_role', :'sink_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'sink_role') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'sink_role', :'sink_password') \gexec

SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'sink_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"sink_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"sink_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"sink_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"sink_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"sink_role";
