"""The Jupiter aggregator's client: quotes, swap transactions and prices."""
