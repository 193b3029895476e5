"""Integration test rig for manifestor: real registries, a token server, tiny images, fault proxy.

The rig talks HTTP itself (requests / http.client) and never imports the manifestor package, so
it is an independent path to check manifestor against. Everything binds to loopback only.
"""
