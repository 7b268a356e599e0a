"""The demo's allowed-channels rule (ws4redis's WS4REDIS_ALLOWED_CHANNELS):
anonymous visitors may listen but not publish."""


def get_allowed_channels(request, channels):
    if request.user.is_authenticated:
        return channels
    return [c for c in channels if not c.startswith("publish-")]
