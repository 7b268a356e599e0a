"""Creates (or reuses) a user, logs it in on a new session and prints the
session key: what a browser would hold in its sessionid cookie after logging
in. Groups go where ws4redis sites put them, session["ws4redis:memberof"].

    python3 manage.py demo_session alice --group staff --group ops
"""
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Log a demo user in on a new session and print the session key."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--group", action="append", default=[])

    def handle(self, *args, **options):
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store[SESSION_KEY] = user._meta.pk.value_to_string(user)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store["ws4redis:memberof"] = options["group"]
        store.create()
        self.stdout.write(store.session_key)
