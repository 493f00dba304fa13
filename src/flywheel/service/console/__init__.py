"""The operator's and holders' view: the web console at `/`, and what `flywheel status`
prints."""
