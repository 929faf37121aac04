-- The access log. The identity key orders entries by arrival, and its primary-key index makes "the ten latest"
-- a backward index scan of ten entries, whatever the table's size.
CREATE TABLE access_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT now(),
    ip          inet,
    xff         text,
    user_agent  text,
    method      text        NOT NULL,
    path        text        NOT NULL
);

-- An exact row count that costs sixteen rows to read, for /_healthz: count(*) scans the whole table.
-- Statement-level triggers keep it in the inserting transaction, so it is exact at every commit (it never
-- lags). The count is spread over sixteen slots chosen by backend so that concurrent inserts rarely wait on
-- each other's row lock; the total is their sum.
CREATE TABLE access_log_count (
    slot  smallint PRIMARY KEY,
    n     bigint   NOT NULL DEFAULT 0
);
INSERT INTO access_log_count (slot) SELECT generate_series(0, 15);

CREATE FUNCTION access_log_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_log_count SET n = n + (SELECT count(*) FROM inserted) WHERE slot = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE FUNCTION access_log_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_log_count SET n = n - (SELECT count(*) FROM deleted) WHERE slot = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE FUNCTION access_log_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_log_count SET n = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER access_log_count_insert AFTER INSERT ON access_log
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION access_log_count_insert();
CREATE TRIGGER access_log_count_delete AFTER DELETE ON access_log
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION access_log_count_delete();
CREATE TRIGGER access_log_count_truncate AFTER TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_count_truncate();
