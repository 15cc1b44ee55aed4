"""Real card readers: PC/SC through pyscard, and the emulated card inserted into the
operating system's PC/SC stack through vpcd (vsmartcard's virtual reader)."""
