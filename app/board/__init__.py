"""The lobby board: a public, read-only page of one community for a screen or tablet in the lobby."""
