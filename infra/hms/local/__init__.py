"""The local runtime core for ``hms up``: emulator, provisioning, dev issuer, TLS and window workers."""
