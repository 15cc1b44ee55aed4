"""A REFERENCE real-name provider for development and tests: NOT a real identity check.

It runs as its own small OpenID Connect provider (`ykt realname serve`), with its own signing
key in its own file (never the platform's key store). A development user types a synthetic
person's name and ID number on its page (the ID number is checked for form and check
character, nothing more) and the provider signs an ID token asserting that person. It exists
so the platform's verification runs its production code path (real HTTP, real signatures)
against something; a deployment points YKT_OIDC_ISSUER at the province's real-name service.
See docs/realname-oidc.md.
"""
