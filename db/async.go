package db

// notMoney is a condition that is always true and, once evaluated, turns synchronous_commit
// off for the rest of its transaction (set_config's is_local): the commit then returns
// without waiting for its WAL to reach the disk, which the WAL writer does within
// 3 x wal_writer_delay (600 ms). A crash of PostgreSQL (not of our process) or a failover
// may lose those last commits, never corrupt anything; fsync stays on. It goes in the WHERE
// of the statements that write what is not money and may be lost or done twice: rate-limit
// hits (a lost hit is a request not counted), delivery marks of e-mails and webhook tries (a
// lost mark is an e-mail or a webhook sent again: both are at-least-once already, and the
// e-mail keeps its Message-ID), an API key's last use.
// Only in statements of their own (the pool's, never a caller's transaction), or it would
// turn it off for money written in the same transaction. A WHERE rather than a SET LOCAL:
// one statement, one round trip, no transaction block. See docs/design-notes.md.
const notMoney = `set_config('synchronous_commit', 'off', true) <> ''`
