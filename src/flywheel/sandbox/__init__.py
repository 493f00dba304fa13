"""Local staging that stands in for the outside world: chain/, rpc/, jupiter/, x_ads/,
traders and faults."""
