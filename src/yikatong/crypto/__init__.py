"""National cryptography (SM2/SM3/SM4), the PBOC MAC family and the issuer key store."""
