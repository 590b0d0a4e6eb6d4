"""What test modules share: a deployment of their own, news sources and runs, the events socket, recorded
histories, generated MAX texts, the dashboard's scripts run in-process. A test module imports from here, never from
another test module or a conftest (tests/test_layers.py checks it)."""
