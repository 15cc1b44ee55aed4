"""The electronic social security card (电子社保卡): channels, consent, signed QR tokens, status list."""
