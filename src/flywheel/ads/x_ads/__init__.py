"""The X Ads API: its signed transport, client, campaign engine and spend read-back."""
