-- Four partitions per donor-partitioned table instead of sixteen (issue 14). PostgreSQL 15 runs
-- the money path's statements as generic plans (db.poolConfig), and a generic plan locks and
-- starts every partition of the tables it names before it prunes to the donor's one: with 16
-- per table that start cost about a fifth of the database's CPU per settled gift. Measured on
-- 2 cores, settling went from 772-804 to 948-1,022 gifts a second and submitting (workers off)
-- from 2,487-2,782 to 3,130-3,381. Four keep each partition's indexes a quarter of the table's.
--
-- repartition_by_donor(n) makes each donor-partitioned table's partitions n: it sets the rows
-- aside, drops the partitions, makes n, and puts the rows back through the parent (which routes
-- them). The keys that reference these tables are dropped for the move and made again after it,
-- which checks every row again. It stays in the schema for the Down, which drops it.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION repartition_by_donor(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text;
    p text;
    r int;
BEGIN
    ALTER TABLE notifications DROP CONSTRAINT notifications_donation_fkey;
    ALTER TABLE partner_gifts DROP CONSTRAINT partner_gifts_donation_fkey;
    ALTER TABLE disputes DROP CONSTRAINT disputes_donation_fkey;
    ALTER TABLE donations DROP CONSTRAINT donations_payment_method_fkey;
    FOREACH t IN ARRAY ARRAY['payment_methods', 'donations', 'payment_attempts'] LOOP
        EXECUTE format('CREATE TEMP TABLE repartition_rows AS TABLE %I', t);
        FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = t::regclass LOOP
            EXECUTE format('DROP TABLE %I', p);
        END LOOP;
        FOR r IN 0..n - 1 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)', t || '_p' || r, t, n, r);
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM repartition_rows', t);
        DROP TABLE repartition_rows;
    END LOOP;
    ALTER TABLE donations ADD CONSTRAINT donations_payment_method_fkey FOREIGN KEY (user_id, payment_method_id) REFERENCES payment_methods (user_id, id);
    ALTER TABLE disputes ADD CONSTRAINT disputes_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id);
    ALTER TABLE partner_gifts ADD CONSTRAINT partner_gifts_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id);
    ALTER TABLE notifications ADD CONSTRAINT notifications_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id);
END $$;
-- +goose StatementEnd
-- No ANALYZE here: on a new database it would record the new partitions as empty, and a
-- connection's generic plans, made while they are, would scan them whole as they fill (until
-- autovacuum analyzes them). Never analyzed, the planner assumes ten pages and uses the keys;
-- on a populated database autovacuum analyzes the rows the move inserted.
SELECT repartition_by_donor(4);

-- +goose Down
SELECT repartition_by_donor(16);
DROP FUNCTION repartition_by_donor(int);
