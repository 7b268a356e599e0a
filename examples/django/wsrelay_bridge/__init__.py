"""Answers wsrelay's HTTP authorization callback from a Django site.

Add "wsrelay_bridge" to INSTALLED_APPS (after django.contrib.sessions and
django.contrib.auth), include "wsrelay_bridge.urls" in the URLconf, and point
wsrelay's auth.callback_url at it. See README.md in this directory.
"""
