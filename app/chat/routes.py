"""The chat page, the health check and the vendored Socket.IO client."""

from pathlib import Path

from flask import current_app, jsonify, render_template, send_from_directory
from flask_login import current_user, login_required
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from . import bp


@bp.route("/")
@login_required
def index():
    """The chat room itself; the socket does the rest."""
    return render_template(
        "chat/index.html",
        username=current_user.username,
        max_length=current_app.config["CHAT_MAX_MESSAGE_LENGTH"],
    )


@bp.route("/healthz")
def healthz():
    """200 while the database answers, 503 while it does not (for load balancers)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.warning("health check: database unavailable", exc_info=True)
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


@bp.route("/vendor/socket.io.min.js")
def socketio_client():
    """The npm-pinned socket.io-client 4.8 build (protocol 5): no CDN, works offline."""
    dist = Path(current_app.root_path).parent / "node_modules" / "socket.io-client" / "dist"
    return send_from_directory(dist, "socket.io.min.js", max_age=3600)
