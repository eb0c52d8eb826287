"""The agent console: a Panel app served next to the aiohttp service, on the same store and bus."""
