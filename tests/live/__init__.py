"""Live-server tests: the app under a real gunicorn, driven over real sockets."""
