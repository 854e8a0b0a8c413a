"""The WSGI entry point: ``gunicorn -k eventlet -w 1 wsgi:app`` or ``flask --app wsgi run``."""

import gc

from app import create_app

app = create_app()

# Everything built at start-up lives as long as the process: move it out of the
# garbage collector's reach. Without this a full collection walks ~150,000
# start-up objects and stops every socket of the worker for about 100 ms
# (the benchmark's p99 misses 100 ms); with it, 10-20 ms. gunicorn imports
# this module in the worker, so the freeze happens there.
gc.collect()
gc.freeze()
