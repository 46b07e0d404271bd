"""Example apps protected by okta-guard (``uvicorn examples.starlette_app:app``)."""
