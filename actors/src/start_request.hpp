// The request that starts a Process in a fresh image of this program, and the pieces the spawn
// and forkserver start methods share (private to actors/: spawn.cpp, forkserver.cpp).
//
// spawn: fork + exec of /proc/self/exe with a control socket on fd 3 (exec_self). The parent
// sends one frame — a StartRequest: who the child is, where its target and the target's invoker
// live (runtime/code_address.hpp), and the encoded arguments — with the fds of any kin objects
// among the arguments attached (SCM_RIGHTS, runtime/handover.hpp). kin::init in the new image
// sees `--kin-spawn`, reads the frame, runs the target and exits; it never returns to main.
//
// forkserver: the first forkserver start execs one server the same way (`--kin-forkserver`), so
// it is single-threaded whatever the parent runs. Each start sends it the same request plus the
// requester's stdio; the server clones the child as a sibling (CLONE_PARENT: the program's own
// child) and answers with its pid and pidfd, so the program tracks, signals and reaps it like
// any other child and loses nothing if the server dies.
#pragma once

#include <kin/codec.hpp>
#include <kin/start_method.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kin::detail {

inline constexpr int kControlFd = 3;  // the request socket in a spawned child or the server
inline constexpr const char* kSpawnFlag = "--kin-spawn";
inline constexpr const char* kForkserverFlag = "--kin-forkserver";
inline constexpr const char* kEntryPrefix = "kin-entry:";

// What a spawned or forkserver child needs to become the Process its parent built. Both ends
// are this program, so the layout only has to agree with itself.
struct StartRequest {
  std::string name;
  bool daemon = false;
  std::string parent_name;
  std::int32_t parent_pid = 0;
  std::string fn_object;  // kEntryPrefix + name for a KIN_ENTRY function
  std::uint64_t fn_offset = 0;
  std::string invoker_object;
  std::uint64_t invoker_offset = 0;
  Bytes args;
  std::string authkey;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, StartRequest& x) {
    return f(x.name, x.daemon, x.parent_name, x.parent_pid, x.fn_object, x.fn_offset, x.invoker_object,
             x.invoker_offset, x.args, x.authkey);
  }
};

/// Reads one request frame and the fds that came with it. EOFError at a clean EOF.
StartRequest read_request(int fd, std::vector<unique_fd>& fds);
/// Runs a decoded request as this process's target; never returns.
[[noreturn]] void run_request(StartRequest& req, std::vector<unique_fd>& fds, pid_t os_parent, StartMethod method);
/// fork + exec of this program with `flag`; `child_end` becomes the child's fd 3.
std::pair<pid_t, unique_fd> exec_self(const char* flag, unique_fd child_end, bool own_group, const sigset_t& mask);
/// Runs `fn` on a thread that lives as long as the process (for PR_SET_PDEATHSIG).
void on_process_lifetime_thread(const std::function<void()>& fn);

/// Sends a framed request (and `fds`) to this process's forkserver, starting one if none runs;
/// returns the new child's pid and pidfd. forkserver.cpp.
std::pair<pid_t, unique_fd> start_in_forkserver(Bytes& frame, std::vector<int> fds);
/// The server's loop (`--kin-forkserver`); never returns. forkserver.cpp.
[[noreturn]] void run_forkserver();

}  // namespace kin::detail
