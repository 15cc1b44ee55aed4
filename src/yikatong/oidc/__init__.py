"""Real-name sign-in over OpenID Connect: the platform as a relying party.

The holder proves who they are at an external real-name provider; the provider sends back a
signed ID token naming the person, and the platform verifies it against the provider's
published keys (`client.OidcIdentityAuthenticator`, the production `IdentityAuthenticator`).
`api.py` is the holder-facing half of the authorization-code flow (PKCE, state, nonce) that
produces that ID token as sign-up evidence. See docs/realname-oidc.md.
"""
