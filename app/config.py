"""Configuration from environment variables.

One Config class reads the environment once, when the application is created; TestConfig
narrows it for the test suite. Every setting a deployment may change is listed in the README.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_DIR = ROOT_DIR / "instance"
#: Served to anyone, without signing in, by Flask's static route.
STATIC_DIR = ROOT_DIR / "static"


def _private_folder(setting: str, folder: Path) -> Path:
    """`folder`, refused if it is inside STATIC_DIR: uploaded files, exports, the SQLite
    database and the secret key live under the upload and instance folders."""
    resolved, static = folder.resolve(), STATIC_DIR.resolve()
    if resolved == static or static in resolved.parents:
        raise RuntimeError(f"{setting} ({resolved}) is inside the static folder ({static}), which is served to "
                           "anyone without signing in: choose a folder outside it.")
    return folder


def _bool_env(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance_dir: Path) -> str:
    """Return SECRET_KEY from the environment, or one generated once and kept in instance/.

    Keeping the generated key on disk means sessions survive a restart of `make run`.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Make `postgresql://` URLs use psycopg 3, the only PostgreSQL driver Catena ships."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    def __init__(self, instance_dir: Path | None = None) -> None:
        # Checked before anything (the generated secret key) is written there.
        self.INSTANCE_DIR = _private_folder("CATENA_INSTANCE_DIR", Path(
            instance_dir or os.environ.get("CATENA_INSTANCE_DIR") or DEFAULT_INSTANCE_DIR
        ))
        self.SECRET_KEY = _secret_key(self.INSTANCE_DIR)
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{self.INSTANCE_DIR / 'catena.sqlite'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        #: The company's time zone: it defines calendar periods and how times are shown.
        self.CATENA_TIMEZONE = os.environ.get("CATENA_TIMEZONE", "Europe/Rome")
        self.CATENA_COMPANY_NAME = os.environ.get("CATENA_COMPANY_NAME", "Catena")
        #: Base URL used to build links that leave the application (e-mails, portal links).
        self.CATENA_BASE_URL = os.environ.get("CATENA_BASE_URL", "http://127.0.0.1:5000")
        self.UPLOAD_DIR = _private_folder("CATENA_UPLOAD_DIR",
                                          Path(os.environ.get("CATENA_UPLOAD_DIR", self.INSTANCE_DIR / "uploads")))
        #: Whole-request limit; Werkzeug answers 413 before the body is read.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("CATENA_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
        #: Limit for one certificate file (PDF, PNG or JPEG).
        self.CERTIFICATE_MAX_BYTES = int(os.environ.get("CATENA_CERTIFICATE_MAX_BYTES", 10 * 1024 * 1024))
        #: Questionnaires: largest evidence file a supplier may upload (PDF, PNG or JPEG).
        self.QUESTIONNAIRE_FILE_MAX_BYTES = int(os.environ.get("CATENA_QUESTIONNAIRE_FILE_MAX_BYTES", 10 * 1024 * 1024))
        #: Audits: largest evidence file an auditor attaches (PDF, PNG or JPEG).
        self.AUDIT_EVIDENCE_MAX_BYTES = int(os.environ.get("CATENA_AUDIT_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024))
        #: Corrective actions: the supplier's answer is due this many days after the request
        #: (the default offered), reminded this many days before, and the link stays open
        #: this many days after the due date.
        self.CORRECTIVE_ACTION_DEFAULT_DAYS = int(os.environ.get("CATENA_CORRECTIVE_ACTION_DAYS", 30))
        self.CORRECTIVE_ACTION_REMIND_DAYS = int(os.environ.get("CATENA_CORRECTIVE_ACTION_REMIND_DAYS", 3))
        self.CORRECTIVE_ACTION_LINK_GRACE_DAYS = int(os.environ.get("CATENA_CORRECTIVE_ACTION_LINK_GRACE_DAYS", 30))
        #: A major nonconformity whose corrective action is still open this many days after its
        #: due date moves the supplier to CORRECTIVE_ACTION_CONSEQUENCE (empty: no consequence).
        self.CORRECTIVE_ACTION_GRACE_DAYS = int(os.environ.get("CATENA_CORRECTIVE_ACTION_GRACE_DAYS", 0))
        self.CORRECTIVE_ACTION_CONSEQUENCE = os.environ.get("CATENA_CORRECTIVE_ACTION_CONSEQUENCE", "suspended")
        self.CORRECTIVE_ACTION_FILE_MAX_BYTES = int(
            os.environ.get("CATENA_CORRECTIVE_ACTION_FILE_MAX_BYTES", 10 * 1024 * 1024))
        #: Days a questionnaire link stays open after the due date.
        self.QUESTIONNAIRE_LINK_GRACE_DAYS = int(os.environ.get("CATENA_QUESTIONNAIRE_LINK_GRACE_DAYS", 30))
        #: Reminder this many days before the due date (and one when it has passed).
        self.QUESTIONNAIRE_REMIND_DAYS = int(os.environ.get("CATENA_QUESTIONNAIRE_REMIND_DAYS", 3))
        #: Start requalification when a qualification expires within this many days.
        self.REQUALIFICATION_DAYS = int(os.environ.get("CATENA_REQUALIFICATION_DAYS", 45))
        #: Days a supplier is given to answer a requalification questionnaire.
        self.REQUALIFICATION_ANSWER_DAYS = int(os.environ.get("CATENA_REQUALIFICATION_ANSWER_DAYS", 21))

        # Sessions. Behind HTTPS set CATENA_SECURE_COOKIES=1: the cookie then takes the
        # __Host- prefix, which browsers only accept on secure, host-only cookies.
        secure = _bool_env("CATENA_SECURE_COOKIES", False)
        self.SESSION_COOKIE_SECURE = secure
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_NAME = "__Host-catena" if secure else "catena"
        self.REMEMBER_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_HTTPONLY = True
        #: Minutes of inactivity after which a signed-in user must sign in again.
        self.SESSION_IDLE_MINUTES = int(os.environ.get("CATENA_SESSION_IDLE_MINUTES", 60))
        self.PREFERRED_URL_SCHEME = "https" if secure else "http"
        #: Host names the app answers to (comma-separated); others get 400. Unset: any.
        hosts = os.environ.get("CATENA_TRUSTED_HOSTS", "").strip()
        self.TRUSTED_HOSTS = [h.strip() for h in hosts.split(",") if h.strip()] or None

        #: Failed log-ins allowed per e-mail address (and 4x per client address) in the window.
        self.LOGIN_MAX_FAILURES = int(os.environ.get("CATENA_LOGIN_MAX_FAILURES", 5))
        self.LOGIN_FAILURE_WINDOW_MINUTES = int(os.environ.get("CATENA_LOGIN_WINDOW_MINUTES", 15))

        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        self.BABEL_DEFAULT_LOCALE = "en"
        self.BABEL_DEFAULT_TIMEZONE = "UTC"
        self.BABEL_TRANSLATION_DIRECTORIES = str(ROOT_DIR / "translations")
        self.LANGUAGES = {"en": "English", "it": "Italiano"}

        self.MAIL_SERVER = os.environ.get("SMTP_HOST", "")
        self.MAIL_PORT = int(os.environ.get("SMTP_PORT", 25))
        self.MAIL_USERNAME = os.environ.get("SMTP_USER", "")
        self.MAIL_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
        self.MAIL_FROM = os.environ.get("SMTP_FROM", "catena@localhost")

        # flask-smorest: the OpenAPI document lives at /api/v1/openapi.json
        self.API_TITLE = "Catena API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api/v1"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.API_SPEC_OPTIONS = {
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        }
        #: Page size bounds for lists, in the web pages and the API.
        self.PAGE_SIZE = 50
        self.API_MAX_LIMIT = 500
        #: "full" is Argon2id at the library's recommended cost; tests use "fast".
        self.PASSWORD_HASH_COST = "full"


class TestConfig(Config):
    def __init__(self, database_url: str | None = None, instance_dir: Path | None = None) -> None:
        super().__init__(instance_dir)
        self.TESTING = True
        if database_url:
            self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        # Argon2 at full cost would dominate the suite's run time; the scheme stays the same.
        self.PASSWORD_HASH_COST = "fast"
