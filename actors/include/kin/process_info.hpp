// ProcessInfo: what kin::current_process(), kin::parent_process() and kin::active_children()
// report about a process — its name, pid and daemon flag, and for current_process() its
// authkey (Python returns Process objects there; kin returns these plain values, which can be
// copied and compared freely). Like Python's parent_process(), the values can also be watched:
//
//   if (auto parent = kin::parent_process()) {
//     parent->join(5s);                       // returns early when the parent ends
//     if (!parent->is_alive()) std::puts("orphaned");
//   }
//
// is_alive()/join() on the parent are exact: a child's OS parent changes when its parent
// dies, so no recycled pid is mistaken for it. For any other process they go by pid (a
// pidfd), which a pid recycled after the process ended could fool.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace kin {

struct ProcessInfo {
  std::string name;
  pid_t pid = 0;
  bool daemon = false;
  /// current_process() only (empty elsewhere): this process's authentication key, Python's
  /// `current_process().authkey`. In the program's first process 32 random bytes (as 64 hex
  /// digits); in a child, the authkey of the Process that started it (Process::authkey()).
  /// Nothing in kin defaults to it (Python's Listener, Client and Manager do): an empty key is
  /// "no handshake" to Listener/Client and "make a random one" to Manager, so pass this one
  /// there when the program's processes should share a key.
  std::string authkey{};

  /// Whether the process still runs (a zombie does not).
  [[nodiscard]] bool is_alive() const;
  /// Waits for the process to end; ValueError for the calling process itself.
  void join() const { (void)join_for(std::nullopt); }
  /// Waits at most `timeout`; true when the process has ended.
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) const {
    return join_for(std::chrono::ceil<std::chrono::milliseconds>(timeout));
  }

  friend bool operator==(const ProcessInfo&, const ProcessInfo&) = default;

 private:
  [[nodiscard]] bool join_for(std::optional<std::chrono::milliseconds> timeout) const;
};

}  // namespace kin
