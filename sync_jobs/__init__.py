"""The dealbridge engine: config, mappings, matching, planning, state and the CLI."""
