"""The web console (`/console`): server-rendered pages for agents, auditors and desk
admins, signed in with an API token, served by `supportlog serve`.

A client of the API in the same process: its pages call the API's own route functions
and the desk with the signed-in principal, so every check (R-ACL) is the API's, never a
hidden button. `sessions` keeps the cookie sessions, `web` the page plumbing (session,
CSRF, templates, error pages), and `pages`, `audit_pages` and `operator_pages` the
pages by role.
"""
