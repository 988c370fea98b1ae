"""Local emulators of the providers' sites, and the rig that puts them on the real names.

Each emulator speaks its provider's protocol as PROVIDERS.md describes it and is as
hostile as the real site (challenge pages, cookies bound to the browser, rotation,
awkwardly split streams, errors on demand). ``Rig`` serves them over TLS (a throwaway
CA) behind a CONNECT proxy that maps the real host names to them.
"""
