"""x-coin-flywheel: a Solana token's fee flywheel (buyback, burn, X ads), run safely every epoch."""

__version__ = "0.1.0"
