"""The HTTP service (FastAPI): sharing API, licence API, verification portal, catalogue pages.

What approval systems, departments and staff reach over HTTP: one router per resource, client
authentication, grants, purposes and the audit as dependencies, RFC 9457 problems for every
error, the Cloud Signature Consortium API and the staff pages. No domain rule lives here:
handlers call the rooms, with the services ``hub serve`` builds and hands to ``create_app``.

Public surface: ``app`` (``create_app``), ``routers`` and ``pages`` (packages), ``clients``,
``purposes``, ``audit`` (and ``audit_verify``), ``records``, ``publish``, ``licence_verify``,
``csc``, ``problems``; ``state`` (what the API is handed, and the process's shared state),
``deps`` (the gate), ``gated`` (the gate's fast path for plain reads) and ``gateway`` (the
middleware).
"""
