"""Users, roles, tokens and partner API keys."""
