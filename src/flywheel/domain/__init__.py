"""The pure core: integer money, fees, allocation and caps, impact, policy, trades, ads and
the epoch's state. No I/O."""
