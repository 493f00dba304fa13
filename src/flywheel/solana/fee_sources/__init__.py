"""Fee sources: one module per way a creator is paid (see docs/fee-sources.md).

`wallet` watches the fee collector for inflows (the detect step); every other source is a
`FeeClaimer` whose claim transaction the claim step journals, lands once and counts from its
own balances. `registry.build` turns FEE_SOURCES into both.
"""
