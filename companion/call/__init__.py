"""The live call: one aiortc peer connection between patient and therapist.

Pure asyncio, no Qt. ``CallEngine`` negotiates through the signaling client, carries
audio, video and a control data channel, and publishes quality stats for the UI and the
monitor. Reconnection is a fresh peer connection through the same signaling session.
"""
