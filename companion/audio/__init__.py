"""The audio engine: one owner of the output device, mixing voice, music and chimes."""
