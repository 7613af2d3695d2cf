"""Companion: a calm companion for at-home ketamine-assisted psychotherapy sessions.

The package is layered so a newcomer finds their room:

- ``companion.protocol``  wire messages and error codes (pure data, validated at the edge)
- ``companion.signaling`` the asyncio signaling client
- ``companion.records``   the local, encrypted, append-only session record
- ``companion.audio``     the one audio engine that owns the output device
- ``companion.server``    the signaling service (aiohttp)
- ``companion.ui``        the thin Qt layer (the only place that imports Qt)
"""

__version__ = "0.1.0"
