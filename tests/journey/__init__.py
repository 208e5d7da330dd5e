"""The reader's journey through real processes: gunicorn, the worker, an SMTP server, HTTP."""
