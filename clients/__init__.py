"""Adapters to the outside world. They know nothing of Temporal; activities map their errors."""
