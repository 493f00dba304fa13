"""The sandbox's chain: a LiteSVM runtime, its token helpers, history and ledger."""
