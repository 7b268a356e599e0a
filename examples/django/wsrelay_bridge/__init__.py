"""Answers wsrelay's HTTP authorization callback from a Django site.

Add "wsrelay_bridge" to INSTALLED_APPS (after django.contrib.sessions and
django.contrib.auth), include "wsrelay_bridge.urls" in the URLconf, and start
wsrelay with auth.backends = ["callback"] and auth.callback_url pointing at
it. The steps, and what the view's request carries, are in wsrelay's
docs/migrating-from-ws4redis.md ("The Django bridge").
"""
