"""Staff accounts, sign-in, sessions, API tokens and roles for the console and the JSON API."""
