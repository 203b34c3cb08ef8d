"""The tools assistants call: one registry (`serve.tools.catalog.REGISTRY`) behind every face."""
