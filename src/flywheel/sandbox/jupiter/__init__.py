"""The sandbox's DEX: a constant-product pool behind a Jupiter-compatible HTTP API."""
