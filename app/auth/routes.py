"""Account pages: register, log in, log out."""

import secrets
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError

from ..extensions import db, login_manager
from . import bp
from .forms import LoginForm, RegisterForm
from .models import User

FORMS = {"auth.login": (LoginForm, "auth/login.html"), "auth.register": (RegisterForm, "auth/register.html")}


@login_manager.user_loader
def load_user(cookie_id):
    """Flask-Login: the user a cookie names, if its session token is still current."""
    user_id, _, token = cookie_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def safe_next(target):
    """Return ``target`` if it is a path on this site, else None.

    Rejects absolute URLs, scheme-relative ``//host`` and ``/\\host`` (browsers
    read the backslash as a slash) and anything with control characters.
    """
    if not target or not target.startswith("/") or "\\" in target:
        return None
    if target.startswith("//") or any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account, log it in and open the chat page."""
    form = RegisterForm()
    if form.validate_on_submit():
        user = User(form.username.data, form.password.data)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # Someone took the name between our check and our insert.
            db.session.rollback()
            form.username.errors.append("That username is taken.")
            return render_template("auth/register.html", form=form), 409
        login_user(user)
        return redirect(url_for("chat.index"), code=303)
    status = 400 if form.errors else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Check the password and go on to ``next`` when it is safe, else to the chat."""
    form = LoginForm()
    if form.validate_on_submit():
        user = User.find(form.username.data)
        if user is not None and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            target = safe_next(request.args.get("next")) or url_for("chat.index")
            return redirect(target, code=303)
        form.form_errors.append("Wrong username or password.")
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session everywhere and close every socket this user has open, in any tab."""
    user_id = current_user.id
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    current_app.extensions["chat"].disconnect_user(user_id)
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    """A missing or stale CSRF token: show the form again with a message, not a bare 400."""
    message = "The form expired or did not come from this site. Please try again."
    form_class, template = FORMS.get(request.endpoint, (None, None))
    if form_class is None:
        flash(message, "error")
        return redirect(url_for("chat.index"), code=303)
    form = form_class()
    form.form_errors.append(message)
    return render_template(template, form=form), 400
