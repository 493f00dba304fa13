"""The state database (SQLite, WAL): receipts, epochs and steps, intents, breaker, ads ledger."""
