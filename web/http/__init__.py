"""HTTP plumbing: reading a request and answering it.

The session and its CSRF token, the body limit, the security headers, the client's address,
escaped log lines, the per-request plugin, who may call a route (``auth_guard``), the typed
services every request reaches (``services``) and the helpers routes answer with
(``request_context``). Nothing here knows what a page shows.
"""
