"""The sandbox's X-Ads-compatible HTTP API: OAuth checks, entities, spend and faults."""
