"""Registration and login forms (Flask-WTF: each carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length

from .models import User
from .usernames import normalize, validation_error

MIN_PASSWORD_LENGTH = 8


class RegisterForm(FlaskForm):
    """A new account: a free, valid username and a password typed twice."""

    username = StringField("Username", filters=[lambda v: normalize(v) if v else v])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(min=MIN_PASSWORD_LENGTH, max=1024, message="Passwords are at least 8 characters."),
        ],
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[EqualTo("password", message="The two passwords differ.")],
    )

    def validate_username(self, field):
        """Reject names outside the rules and names taken in any letter case."""
        error = validation_error(field.data or "")
        if error:
            raise ValidationError(error)
        if User.find(field.data) is not None:
            raise ValidationError("That username is taken.")


class LoginForm(FlaskForm):
    """Username and password; ``remember`` keeps the login across browser restarts."""

    username = StringField("Username", validators=[DataRequired("Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    remember = BooleanField("Remember me")
