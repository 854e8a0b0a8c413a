"""Scale-out tests: several gunicorn processes sharing Redis and PostgreSQL."""
