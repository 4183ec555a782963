"""Flask extensions, created unbound here and bound to the application by the factory."""
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf import CSRFProtect

from app.db import db

migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
api = Api()

__all__ = ["db", "migrate", "csrf", "login_manager", "babel", "api"]
