"""A minimal site that logs users in with Django's sessions and answers
wsrelay's callback at /wsrelay/auth/. Not for production: DEBUG is on and the
secret key is fixed.

The SQLite database lives in WSRELAY_DEMO_DIR (default: a wsrelay-django-demo
folder in the system's temporary directory).
"""
import os
import tempfile

DATA_DIR = os.environ.get("WSRELAY_DEMO_DIR") or os.path.join(
    tempfile.gettempdir(), "wsrelay-django-demo")
os.makedirs(DATA_DIR, exist_ok=True)

SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "wsrelay_bridge",
    "demo",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "demo.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DATA_DIR, "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

# ws4redis's allowed-channels hook, under its wsrelay name.
WSRELAY_ALLOWED_CHANNELS = "demo.channels.get_allowed_channels"
