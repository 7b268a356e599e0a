#!/bin/sh
# The wsrelay image's entrypoint: runs wsrelay with the given arguments, as
# PID 1 (exec), so that SIGTERM reaches it and starts the drain.
#
# TRUST_PROXY_HOSTS="nginx": names (compose services) looked up here, once,
# and added to auth.trusted_proxies through WSRELAY_TRUSTED_PROXIES, so that
# wsrelay believes X-Forwarded-For from nginx's own address only. Trusting
# the network's subnet instead would also trust its gateway, through which
# connections to published ports arrive with forged headers. A container
# that gets a new address (recreated) needs wsrelay restarted after it;
# compose does that for a service in depends_on.
set -eu

if [ -n "${TRUST_PROXY_HOSTS:-}" ]; then
  trusted=${WSRELAY_TRUSTED_PROXIES:-}
  for host in $TRUST_PROXY_HOSTS; do
    tries=0
    until addresses=$(getent ahosts "$host" | awk '{ print $1 }' | sort -u) && [ -n "$addresses" ]; do
      tries=$((tries + 1))
      if [ "$tries" -ge 30 ]; then
        echo "wsrelay-entrypoint: cannot resolve \"$host\" (TRUST_PROXY_HOSTS) after 30 s" >&2
        exit 1
      fi
      sleep 1
    done
    for address in $addresses; do trusted="${trusted:+$trusted,}$address"; done
  done
  echo "wsrelay-entrypoint: auth.trusted_proxies = $trusted (TRUST_PROXY_HOSTS=$TRUST_PROXY_HOSTS)" >&2
  export WSRELAY_TRUSTED_PROXIES="$trusted"
  unset TRUST_PROXY_HOSTS
fi
exec /usr/bin/wsrelay "$@"
