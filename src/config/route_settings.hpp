#pragma once
// The channel routes: the [[routes]] tables of the file (docs/protocol.md
// §3.1, docs/configuration.md "Channel routes"). Plain data, checked by
// config_routes.cpp; the route logic itself is pure (wire/routes.hpp).
#include <vector>

#include <wsrelay/wire/routes.hpp>

namespace wsrelay {

struct RouteSettings {
  std::vector<Route> routes;
  bool operator==(const RouteSettings&) const = default;
};

}  // namespace wsrelay
