"""The never-alone monitor: is the therapist still with the patient? Pure asyncio, no Qt."""
