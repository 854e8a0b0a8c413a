"""The chat: the page, the /chat Socket.IO namespace and the objects behind them."""

from flask import Blueprint

bp = Blueprint("chat", __name__)

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
