#pragma once
// Files compiled into the daemon (cmake/embed_assets.cmake generates their
// definitions from clients/), so it serves them with nothing on disk.
#include <string_view>

namespace wsrelay::assets {

struct Asset {
  std::string_view body;
  std::string_view etag;  // quoted strong validator of `body`, for ETag/If-None-Match
};

const Asset& client_js();  // clients/js/wsrelay.js
const Asset& demo_html();  // clients/demo/index.html (a template: see static_pages.hpp)

}  // namespace wsrelay::assets
