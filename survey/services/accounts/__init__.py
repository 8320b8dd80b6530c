"""Staff accounts: creation, authentication and the password policy (``users``), sign-in
throttling and lockouts (``login_guard``), and API tokens acting for an account (``api_tokens``).
"""
