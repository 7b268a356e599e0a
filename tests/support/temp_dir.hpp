#pragma once
// A private directory under $TMPDIR (or /tmp) for one test's files: logs,
// ready files, Redis's working directory. Removed when the object goes away,
// unless WSRELAY_TEST_KEEP_FILES is set in the environment (for post-mortems).
#include <string>

namespace wsrelay::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "wsrelay-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name; the file is not created.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace wsrelay::test
