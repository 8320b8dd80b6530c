"""Helpers shared by test modules: servers on free ports, accessibility checks in the browser,
OpenAPI schema checks, rounds with responses (``rounds``) and comments (``comments``). Test
modules import from here, never from each other."""
