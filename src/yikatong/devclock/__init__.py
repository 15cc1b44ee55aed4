"""The development clock: start the platform at a chosen time and move it forward (development
mode only), so time-bound rules can be shown and tested against a running server."""
