"""The application shell: CLI, daemon, health and metrics, reports, the demo, validate."""
