"""The callback view: who the connection belongs to, and what it may do.

wsrelay forwards the browser's Cookie (and Authorization, Origin), so
Django's session and authentication middleware see the same request.user and
session the browser has on the site itself. The rest of the request is
wsrelay's own GET to this view: the browser's URI is in X-Original-URI, and
its other headers arrive only when listed in auth.callback_forward_headers. The answer is the JSON that
wsrelay's callback backend expects:

    {"user": "alice" | null, "groups": [...], "session": "<key>" | null,
     "allow": [flag names]}            # "allow" only when a hook is set

Groups follow ws4redis: the list the site stored in
request.session["ws4redis:memberof"], plus the names of user.groups when
WSRELAY_BRIDGE_USER_GROUPS is True.

WSRELAY_ALLOWED_CHANNELS (or WS4REDIS_ALLOWED_CHANNELS, for sites that
already have one) is the dotted path of ws4redis's allowed-channels
function: get_allowed_channels(request, channels) -> iterable of the flags
("subscribe-user", "publish-broadcast", ...) the connection may use, or
raise PermissionDenied to refuse it (403). request.wsrelay_facility holds the
facility the browser asked for.
"""
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _allowed_channels_hook():
    path = getattr(settings, "WSRELAY_ALLOWED_CHANNELS", None) or getattr(
        settings, "WS4REDIS_ALLOWED_CHANNELS", None)
    if not path:
        return None
    return import_string(path) if isinstance(path, str) else path


def _groups(request):
    groups = list(request.session.get("ws4redis:memberof", []))
    user = request.user
    if getattr(settings, "WSRELAY_BRIDGE_USER_GROUPS", False) and user.is_authenticated:
        groups.extend(user.groups.values_list("name", flat=True))
    return list(dict.fromkeys(str(g) for g in groups))  # unique, in order


@never_cache
@require_GET
def authorize(request):
    facility = request.headers.get("X-WsRelay-Facility", "")
    requested = [f for f in request.headers.get("X-WsRelay-Flags", "").split(",") if f]
    request.wsrelay_facility = facility

    user = request.user
    answer = {
        "user": user.get_username() if user.is_authenticated else None,
        "groups": _groups(request),
        # ws4redis's subscribe-session: only a session that exists has a key.
        "session": request.session.session_key,
    }
    hook = _allowed_channels_hook()
    if hook is not None:
        try:
            allowed = hook(request, requested)
        except PermissionDenied:
            return HttpResponse("forbidden\n", status=403, content_type="text/plain")
        answer["allow"] = sorted(set(allowed))
    return JsonResponse(answer)
