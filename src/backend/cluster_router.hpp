#pragma once
// ClusterRouter: the decisions of ClusterCommands (cluster_commands.hpp)
// without I/O, the sans-io core of the command side of a redis+cluster://
// engine, tested by feeding it values:
//
// - the slot map (wire/cluster.hpp), and which master a slot goes to;
// - what a reply means for its command: done; sent again elsewhere after
//   -MOVED (the slot is pointed at its new owner, the map to be read again)
//   or -ASK (to the target behind ASKING, the map left alone); tried again
//   later after -TRYAGAIN or -CLUSTERDOWN; given up as lost past the limits
//   (a client publish is then sent again, never refused for a redirect);
// - the drain: once an ordered command (the engine's publish queue) was
//   redirected, the router is draining until every ordered command sent
//   before has finished, so that none overtakes another (the engine's gate
//   stays shut meanwhile: two SETs of a key land in the order made).
#include <cstddef>
#include <optional>

#include <wsrelay/wire/cluster.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

class ClusterRouter {
 public:
  struct Limits {
    int max_redirects = 16;  // -MOVED / -ASK per command
    int max_retries = 100;   // -TRYAGAIN / -CLUSTERDOWN / no connection, per command
  };
  // One command's routing, kept by the caller beside its arguments.
  struct Flight {
    int slot = 0;
    bool ordered = true;
    int redirects = 0;
    int retries = 0;
  };
  // What to do next with a command.
  struct Step {
    enum class Kind {
      finish,       // hand `reply` (or nullptr, with lost) to the caller
      resend,       // send it to `to` now (behind ASKING with `asking`)
      retry_later,  // wait a turn, then ask on_retry()
    };
    Kind kind = Kind::finish;
    HostPort to;
    bool asking = false;
    bool lost = false;        // finish: as if its connection dropped
    bool refresh = false;     // read the slot map again
    bool redirected = false;  // a redirect or retry was taken (counted)
  };

  explicit ClusterRouter(Limits limits) : limits_(limits) {}
  ClusterRouter() : ClusterRouter(Limits{}) {}

  // A map read with CLUSTER SLOTS; true when it differs from the one held.
  bool set_map(SlotMap map);
  const std::optional<SlotMap>& map() const { return map_; }
  // The master of `slot` now; nullptr without a map or an owner.
  const HostPort* owner(int slot) const;

  // A command was written (ordered ones are counted for the drain).
  void sent(const Flight& flight);
  // Its reply; nullptr when its connection dropped first.
  Step on_reply(Flight& flight, const RespValue* reply);
  // Its turn after retry_later: resend to the slot's owner when
  // `owner_up`, else wait again, or give up past the limit (lost).
  Step on_retry(Flight& flight, bool owner_up);
  // The caller handed its reply on (after Step::finish).
  void finished(const Flight& flight);

  // True from an ordered command's redirect until every ordered command
  // sent before it (and since) has finished.
  bool draining() const { return draining_; }

 private:
  Limits limits_;
  std::optional<SlotMap> map_;
  std::size_t ordered_in_flight_ = 0;
  bool draining_ = false;
};

}  // namespace wsrelay
