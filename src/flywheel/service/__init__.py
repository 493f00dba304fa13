"""`flywheel run`: scheduler, circuit breaker, HTTP (health, webhooks), metrics, notifications."""
