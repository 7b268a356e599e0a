#!/bin/sh
# The nginx image's entrypoint: writes /etc/nginx/resolver.conf with the DNS
# server of the container's network (docker: 127.0.0.11; podman with the
# dnsname plugin: the network's gateway), then runs nginx. docker/nginx.conf
# names the upstream in a variable, so nginx asks that server again every
# 10 s instead of keeping the address it found at start: a recreated
# wsrelay container (a new address) is reached without reloading nginx.
set -eu
resolver=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
case $resolver in
  "") echo "nginx-entrypoint: no nameserver in /etc/resolv.conf" >&2; exit 1 ;;
  *:*) resolver="[$resolver]" ;;
esac
echo "resolver $resolver valid=10s ipv6=off;" > /etc/nginx/resolver.conf
exec "$@"
