"""Test support: in-memory fakes of the ports, one module per window (and ``kit`` for the
platform's). Each fake passes the same contract suite as the adapter it stands for
(``tests/integration/test_port_contracts.py``)."""
