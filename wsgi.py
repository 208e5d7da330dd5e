"""WSGI entry point: ``gunicorn wsgi:app``."""

from newsletter_service import create_app

app = create_app()
