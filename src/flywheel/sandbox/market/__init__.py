"""A sandbox market that behaves like one: arbitrage back to a drifting reference, a searcher."""
