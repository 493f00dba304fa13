"""Settings: every variable, its default and its validation; the only reader of the environment."""
