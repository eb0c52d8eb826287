"""The X (Twitter) channel: mentions and DMs by polling or Account Activity webhooks, replies."""
