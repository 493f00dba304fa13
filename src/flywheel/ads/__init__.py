"""Ads engines behind the AdsEngine port: dry-run, manual and the X Ads API (x_ads/)."""
