"""The shared mechanism on a real database (SQLite, and MariaDB with ``-m production``):
the writer, the runner and its ledger, the guard, the table locks and registry, the
database checks, what monitoring derives from the ledger."""
