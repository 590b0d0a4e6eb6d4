"""The local stack: embedded Postgres, the Temporal dev server, emulators, worker and API.

`devstack.processes` starts and stops each piece (used by `make up` and by the test fixtures);
`python -m devstack up|worker|down` is the command line on top of it.
"""
