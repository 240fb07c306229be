"""The HTTP side of ``bhpolicy serve``: the app factory, authentication, CSRF, the API and
page routers, their templates and static files. It calls :mod:`bhpolicy.services` and decides
nothing itself; nothing below it imports it or a web framework (tests/test_import_graph.py)."""
