"""config.yaml and mapping files: models, YAML with line numbers, and the checks validate runs."""
