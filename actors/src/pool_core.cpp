// The process pool engine: see kin/detail/pool_core.hpp.
#include <kin/detail/pool_core.hpp>

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <utility>

#include <kin/current_process.hpp>
#include <kin/errors.hpp>
#include <kin/exit_status.hpp>
#include <kin/pipe.hpp>
#include <kin/process.hpp>
#include <kin/process_info.hpp>
#include <kin/runtime/code_address.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/spsc_ring.hpp>
#include <kin/runtime/syscall.hpp>
#include <kin/runtime/unique_fd.hpp>

#include "process_globals.hpp"

namespace kin::detail {
namespace {

using Clock = std::chrono::steady_clock;

enum : std::uint32_t { kOk = 0, kError = 1, kInitFailed = 2 };

// The transport: each worker has one memfd segment holding two SpscRings, tasks (parent ->
// worker) and replies (worker -> parent). A record is a fixed head and an inline payload; a
// payload too large for a ring record travels as a frame on the worker's socket right after
// its head is published (kBig), so it keeps its place in the order. The socket otherwise only
// carries the worker's EOF (its death) and, for spawn/forkserver, the segment's fd at start.
constexpr std::size_t kRingBytes = std::size_t{64} << 10;
constexpr std::size_t kSegmentBytes = 2 * SpscRing::footprint(kRingBytes);
// A worker with nothing to run spins this long before it sleeps on its ring's futex (waking
// a sleeping process costs ~70-85 us here, a spin that catches the next task ~1 us).
constexpr auto kWorkerSpin = std::chrono::microseconds{60};
// The pool thread spins up to this long after its last activity, then polls.
constexpr auto kPoolSpin = std::chrono::microseconds{60};
// The shortest spin either adapts down to (see worker_main and run): short enough to cost
// nothing on a loaded machine, long enough to catch a round trip's next task and grow again.
constexpr auto kMinSpin = std::chrono::microseconds{2};
// Tasks a worker may hold while its tasks are short (their last run took under kShortTask).
constexpr std::size_t kDeepWindow = 512;
constexpr std::uint64_t kShortTaskNs = 20'000;

enum : std::uint32_t { kTask = 0, kCode = 1, kQuit = 2, kNop = 3 };
enum : std::uint32_t { kBig = 1 };

struct TaskHead {
  std::uint64_t id;  // kCode: the code id being defined
  std::uint64_t invoker, fn;
  std::uint32_t kind, flags;
};
struct ReplyHead {
  std::uint64_t id;
  std::uint32_t kind, flags;
  std::uint64_t run_ns;  // how long the task ran (the parent's batching rule)
};

std::byte* ring_of(const MemfdSegment& seg, int which) {
  return static_cast<std::byte*>(seg.data()) + static_cast<std::size_t>(which) * SpscRing::footprint(kRingBytes);
}

// A result too large for a record: one frame through kin's SIGPIPE-safe writer and its exact
// frame reader (nothing read past it). false: the peer is gone or sent garbage. (An argument
// too large travels in a memfd of its own instead: see PoolCore::Impl::push.)
bool send_blob(int fd, std::span<const std::byte> payload) {
  try {
    write_frame(fd, payload);
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool recv_blob(int fd, Bytes& payload) {
  try {
    payload = read_frame(fd);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string type_name_of(const std::type_info& t) {
  int rc = 0;
  char* d = abi::__cxa_demangle(t.name(), nullptr, nullptr, &rc);
  std::string s = (rc == 0 && d != nullptr) ? d : t.name();
  std::free(d);
  return s;
}

std::pair<std::string, std::string> describe_current() {
  try {
    throw;
  } catch (const std::exception& e) {
    return {type_name_of(typeid(e)), e.what()};
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return {t != nullptr ? type_name_of(*t) : std::string("unknown"), std::string("(not a std::exception)")};
  }
}

// Spawn and forkserver workers run another image of the program, where the parent's addresses
// mean nothing: there a task carries code ids, each defined once per worker by a kCode record
// whose payload is the function's CodeRef (object, offset). Fork workers get the addresses
// themselves.
using CodeTuple = std::tuple<std::string, std::uint64_t>;

// Adds one to an eventfd: the pool thread's doorbell. A full counter (EAGAIN) already rings.
void ring_eventfd(int fd) noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(fd, &one, sizeof one);
}

[[noreturn]] void worker_main(int fd, int bell, std::byte* seg, const PoolOptions& opt, bool portable) {
  SpscRing in{seg, kRingBytes, false}, out{seg + SpscRing::footprint(kRingBytes), kRingBytes, false};
  // The parent sleeps in poll() with `parked` set on every reply ring: then, and only then,
  // one write to the pool's eventfd wakes it.
  auto publish = [&] {
    if (out.publish()) ring_eventfd(bell);
  };
  auto reply = [&](std::uint64_t id, std::uint32_t kind, std::uint64_t ns, std::span<const std::byte> payload) {
    const bool big = sizeof(ReplyHead) + payload.size() > out.max_record();
    const std::size_t n = big ? sizeof(ReplyHead) : sizeof(ReplyHead) + payload.size();
    std::byte* p;
    for (unsigned i = 0; (p = out.try_push(n)) == nullptr; ++i) {  // full: the parent is behind
      publish();
      if (i > 64) ::usleep(50);
      else std::this_thread::yield();
    }
    const ReplyHead h{id, kind, big ? kBig : 0u, ns};
    std::memcpy(p, &h, sizeof h);
    if (!big) {
      if (!payload.empty()) std::memcpy(p + sizeof h, payload.data(), payload.size());
      publish();
      return true;
    }
    publish();  // the head first: the parent reads the frame when it meets the head
    return send_blob(fd, payload);
  };
  Bytes out_bytes;
  std::vector<std::uintptr_t> codes;  // portable: code id -> address here (0: not found)
  if (opt.initializer) {
    try {
      opt.initializer();
    } catch (...) {
      auto e = encode(describe_current());
      reply(0, kInitFailed, 0, e);
      detail::flush_std_streams();
      ::_exit(1);
    }
  }
  std::size_t done = 0;
  // The spin adapts: halved each time it ends in a sleep, doubled when it catches a task. On a
  // loaded machine (a failing spin only delays the threads that would send the task) it so
  // falls to kMinSpin and the worker sleeps almost at once, as a blocking read would; the short
  // spin left lets it grow back when the load goes.
  std::chrono::nanoseconds spin = kWorkerSpin;
  for (;;) {
    auto rec = in.front();
    if (rec.empty()) {
      if (in.corrupt()) break;
      in.release();
      if (in.wait(spin)) {
        spin = std::min<std::chrono::nanoseconds>(std::max<std::chrono::nanoseconds>(2 * spin, kMinSpin), kWorkerSpin);
      } else {
        spin = std::max<std::chrono::nanoseconds>(spin / 2, kMinSpin);
      }
      continue;
    }
    if (rec.size() < sizeof(TaskHead)) break;
    TaskHead h;
    std::memcpy(&h, rec.data(), sizeof h);
    std::span<const std::byte> args = rec.subspan(sizeof h);
    MemfdSegment big_args;  // a task's arguments too big for a record: their own memfd
    if ((h.flags & kBig) != 0) {
      try {
        std::byte one[1];
        std::vector<unique_fd> fds;
        recv_with_fds(fd, one, fds);
        if (fds.size() != 1) break;
        big_args = MemfdSegment::attach(std::move(fds[0]));
      } catch (const Error&) {
        break;
      }
      args = big_args.bytes();
    }
    if (h.kind == kQuit) break;
    if (h.kind == kNop) {
      in.pop();
      continue;
    }
    if (h.kind == kCode) {  // portable: a code definition, in id order
      if (!portable || h.id != codes.size()) break;
      std::uintptr_t addr = 0;
      try {
        auto [object, offset] = decode<CodeTuple>(args);
        addr = reinterpret_cast<std::uintptr_t>(resolve_code_ref(CodeRef{std::move(object), offset}));
      } catch (...) {  // reported by the task that needs it
      }
      codes.push_back(addr);
      in.pop();
      continue;
    }
    out_bytes.clear();
    std::uint32_t kind = kOk;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      std::uintptr_t invoker = h.invoker, fn = h.fn;
      if (portable) {
        invoker = h.invoker < codes.size() ? codes[h.invoker] : 0;
        fn = h.fn < codes.size() ? codes[h.fn] : 0;
        if (invoker == 0 || fn == 0)
          throw StartMethodError("kin::Pool: a task's function is not in this worker's image of the program");
      }
      reinterpret_cast<PoolInvoker>(invoker)(fn, args, out_bytes);
    } catch (...) {
      kind = kError;
      out_bytes = encode(describe_current());
    }
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    in.pop();
    in.release();  // its slot is free for the parent's next task
    if (!reply(h.id, kind, ns, out_bytes)) break;
    if (opt.maxtasksperchild != 0 && ++done >= opt.maxtasksperchild) break;
  }
  detail::leave_child(0);  // joins the worker's own non-daemon threads and flushes, as Python
}

// The target of a spawn or forkserver worker (a kin::Process): its socket arrives as a
// Connection, its initializer as a CodeRef; the first thing on the socket is one byte with the
// segment's fd and the pool's eventfd beside it.
void pool_worker_entry(Connection<int> conn, std::string init_object, std::uint64_t init_offset, bool has_init,
                       std::uint64_t maxtasksperchild) {
  PoolOptions opt;
  opt.maxtasksperchild = static_cast<std::size_t>(maxtasksperchild);
  if (has_init) opt.initializer = reinterpret_cast<void (*)()>(resolve_code_ref(CodeRef{std::move(init_object), init_offset}));
  std::byte b[1];
  std::vector<unique_fd> fds;
  recv_with_fds(conn.fileno(), b, fds);
  if (fds.size() != 2) throw ProtocolError("kin::Pool worker: expected its segment and the pool's eventfd");
  auto seg = MemfdSegment::attach(std::move(fds[0]));
  if (seg.size() < kSegmentBytes) throw ProtocolError("kin::Pool worker: its segment is too small");
  worker_main(conn.fileno(), fds[1].get(), static_cast<std::byte*>(seg.data()), opt, true);
}

}  // namespace

struct PoolCore::Impl {
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    std::optional<Process> proc;  // spawn/forkserver workers (fork workers are raw children)
    MemfdSegment seg;             // its two rings; dropped with a dead worker
    SpscRing tx, rx;              // tasks to it, replies from it
    bool unpublished = false;     // tasks pushed to tx and not yet published
    bool short_tasks = false;     // its last task ran under kShortTaskNs: it may hold many
    std::size_t codes_known = 0;  // portable: code ids this worker has been told
    // Sent and not yet answered, in the order sent: the worker runs them in that order, so the
    // front is the one running and the others have not started.
    std::deque<std::unique_ptr<PoolTask>> tasks;
    Clock::time_point deadline{};  // of the front task (task_timeout)
    bool timed_out = false;
    std::uint64_t cancel_id = 0;  // kill_task(): the task its worker was killed for
    std::size_t ran = 0;  // replies received
    bool retiring = false;  // it has been given its last task (maxtasksperchild)
  };

  enum class Sent { ok, full, gone };

  PoolOptions opt;
  std::size_t n = 0;
  std::size_t base_window = 1;  // tasks in flight per worker: 1 + prefetch
  bool fixed_window = false;    // prefetch given: exactly that, whatever the tasks cost
  bool portable = false;               // spawn/forkserver workers
  std::optional<CodeRef> init_ref;     // portable: where the initializer is
  std::vector<CodeRef> codes;          // portable: every function sent so far, by id
  std::unordered_map<std::uintptr_t, std::uint64_t> code_ids;
  mutable std::mutex m;
  std::condition_variable idle_cv;
  std::deque<std::unique_ptr<PoolTask>> pending;
  // The workers taking tasks (n of them), and behind them retiring ones (maxtasksperchild):
  // those finish what they hold and exit, their successors already started.
  std::vector<std::unique_ptr<Worker>> workers;
  bool want_spawn = false;  // a worker retired: the pool thread starts its successor

  // The workers as Worker&, for range-for. A plain iterator, not std::views::transform: clang 14
  // (the fuzz build's compiler) cannot compile libstdc++ 12's views.
  struct Workers {
    using Slots = std::vector<std::unique_ptr<Worker>>;
    struct It {
      Slots::const_iterator at;
      Worker& operator*() const { return **at; }
      It& operator++() {
        ++at;
        return *this;
      }
      bool operator!=(const It& o) const { return at != o.at; }
    };
    const Slots& slots;
    It begin() const { return {slots.begin()}; }
    It end() const { return {slots.end()}; }
  };
  Workers each_worker() const { return {workers}; }
  std::exception_ptr broken;  // initializer failure
  std::uint64_t next_id = 1;
  bool closed = false, stopping = false, terminating = false, finished = false;
  int wake_fd = -1;  // the pool thread's doorbell: join/terminate, and workers' replies while it polls
  std::thread thread;

  using Completion = std::pair<std::unique_ptr<PoolTask>, PoolOutcome>;

  void wake() { ring_eventfd(wake_fd); }

  static void make_rings(Worker& w) {
    w.seg = MemfdSegment::create(kSegmentBytes, "kin-pool-worker");
    w.tx = SpscRing{ring_of(w.seg, 0), kRingBytes, true};
    w.rx = SpscRing{ring_of(w.seg, 1), kRingBytes, true};
  }

  // Called with m held, from whichever thread holds it.
  void spawn(Worker& w) {
    if (portable) {
      start_process_worker(w);
      return;
    }
    Worker fresh;
    make_rings(fresh);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw OSError(errno, "kin::Pool: socketpair");
    pid_t parent = ::getpid();
    // Python's names and flags: a pool worker is a daemon child called ForkPoolWorker-N.
    ProcessInfo self{"ForkPoolWorker-" + std::to_string(detail::next_process_number()), 0, true,
                     detail::current_authkey()};  // as a Process would inherit it
    ProcessInfo parent_info{detail::process_globals().current.name, parent, false, {}};
    detail::flush_std_streams();  // or buffered output would be written twice
    pid_t pid = ::fork();
    if (pid < 0) {
      int e = errno;
      ::close(sv[0]);
      ::close(sv[1]);
      throw OSError(e, "kin::Pool: fork");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      // Only its own socket and the pool's eventfd stay open: a copy of another pool's or a
      // sibling's socket end held here would hide that worker's death (no EOF) from its parent.
      const unsigned a = static_cast<unsigned>(std::min(sv[1], wake_fd));
      const unsigned b = static_cast<unsigned>(std::max(sv[1], wake_fd));
      if (a > 3) ::close_range(3, a - 1, 0);
      if (b > a + 1) ::close_range(a + 1, b - 1, 0);
      ::close_range(b + 1, ~0U, 0);
      detail::forget_children_after_fork();
      self.pid = ::getpid();
      detail::become_child(std::move(self), std::move(parent_info), parent, StartMethod::fork);
      worker_main(sv[1], wake_fd, static_cast<std::byte*>(fresh.seg.data()), opt, false);
    }
    ::close(sv[1]);
    fresh.pid = pid;
    fresh.fd = sv[0];
    w = std::move(fresh);
  }

  void start_process_worker(Worker& w) {
    Worker fresh;
    make_rings(fresh);
    auto [mine, theirs] = Pipe<int>();
    Process p{ProcessOptions{.daemon = true, .start_method = opt.start_method}, &pool_worker_entry, std::move(theirs),
              init_ref ? init_ref->object : std::string(), init_ref ? init_ref->offset : 0, init_ref.has_value(),
              static_cast<std::uint64_t>(opt.maxtasksperchild)};
    // Python's names: SpawnPoolWorker-N, ForkServerPoolWorker-N (N of the default "Process-N").
    const std::string kind = *opt.start_method == StartMethod::spawn ? "SpawnPoolWorker-" : "ForkServerPoolWorker-";
    p.set_name(kind + p.name().substr(p.name().find('-') + 1));
    const int fd = ::fcntl(mine.fileno(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw OSError(errno, "kin::Pool: dup");
    try {
      // Its segment and the doorbell go first, beside one byte; the worker reads them before
      // anything else (a spawned image cannot inherit the mapping).
      const std::byte one[1] = {std::byte{1}};
      const int fds[2] = {fresh.seg.fd(), wake_fd};
      send_with_fds(fd, one, fds);
      p.start();
    } catch (...) {
      ::close(fd);
      throw;
    }
    fresh.pid = p.pid();
    fresh.fd = fd;
    fresh.proc.emplace(std::move(p));
    w = std::move(fresh);
  }

  // Never by pid alone for a process worker: the runtime may have reaped it already.
  void kill_worker(Worker& w) {
    if (w.proc) {
      w.proc->kill();
    } else if (w.pid > 0) {
      ::kill(w.pid, SIGKILL);
    }
  }

  void reap(Worker& w, ExitStatus& st) {
    ::close(w.fd);
    w.fd = -1;
    if (w.proc) {
      w.proc->join();
      st = w.proc->exit_status().value_or(ExitStatus{});
      w.proc.reset();
      return;
    }
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    st = ExitStatus::from_wait_status(status);
  }

  // One record on w's task ring (published later, once per batch: flush()). A payload too big
  // for a record goes in a memfd of its own whose fd is passed on the socket (one byte with it)
  // before the head is published: a send that never blocks, so the pool thread can always be
  // reading a worker's big reply while tasks are sent to it.
  Sent push(Worker& w, TaskHead h, std::span<const std::byte> payload) {
    const bool big = sizeof h + payload.size() > w.tx.max_record();
    MemfdSegment blob;
    if (big) {
      blob = MemfdSegment::create(payload.size(), "kin-pool-task");
      std::memcpy(blob.data(), payload.data(), payload.size());
    }
    std::byte* p = w.tx.try_push(big ? sizeof h : sizeof h + payload.size());
    if (p == nullptr) return Sent::full;
    if (big) {
      h.flags |= kBig;
      try {
        const std::byte one[1] = {std::byte{1}};
        const int fds[1] = {blob.fd()};
        send_with_fds(w.fd, one, fds);
      } catch (const Error&) {
        h.kind = kNop;  // the worker is gone (its ring goes with it)
        std::memcpy(p, &h, sizeof h);
        return Sent::gone;
      }
    }
    std::memcpy(p, &h, sizeof h);
    if (!big && !payload.empty()) std::memcpy(p + sizeof h, payload.data(), payload.size());
    w.unpublished = true;
    return Sent::ok;
  }

  void flush(Worker& w) {
    if (!w.unpublished) return;
    w.unpublished = false;
    if (w.tx.publish()) w.tx.wake();
  }

  // Portable mode: the id of the function at `addr`, defined for worker `w` first if new to it.
  Sent send_code(Worker& w, std::uintptr_t addr, std::uint64_t& id) {
    auto it = code_ids.find(addr);
    if (it == code_ids.end()) {
      codes.push_back(code_ref_of(reinterpret_cast<const void*>(addr)));  // StartMethodError if nowhere
      it = code_ids.emplace(addr, codes.size() - 1).first;
    }
    id = it->second;
    for (; w.codes_known < codes.size(); ++w.codes_known) {
      const auto& c = codes[w.codes_known];
      Sent s = push(w, TaskHead{w.codes_known, 0, 0, kCode, 0}, encode(CodeTuple{c.object, c.offset}));
      if (s != Sent::ok) return s;
    }
    return Sent::ok;
  }

  void fail_all_locked(std::vector<Completion>& out, const std::exception_ptr& why) {
    for (auto& t : pending) out.emplace_back(std::move(t), PoolOutcome{false, {}, why});
    pending.clear();
  }

  [[nodiscard]] std::size_t window_of(const Worker& w) const {
    return fixed_window || !w.short_tasks ? base_window : kDeepWindow;
  }

  bool can_take(const Worker& w) const { return w.fd >= 0 && !w.retiring && w.tasks.size() < window_of(w); }

  static bool is_big(const Worker& w, const PoolTask& t) { return sizeof(TaskHead) + t.args.size() > w.tx.max_record(); }

  // Each task to the worker holding fewest (so a short burst spreads over the workers before
  // any window fills). One publish (and at most one wake-up) per worker per call.
  void dispatch_locked(std::vector<Completion>& out) {
    while (!pending.empty()) {
      Worker* best = nullptr;
      for (Worker& w : each_worker())
        if (can_take(w) && (best == nullptr || w.tasks.size() < best->tasks.size())) best = &w;
      if (best == nullptr) break;
      // A big task (its own memfd, an fd in flight) goes no deeper than 1 + prefetch.
      if (is_big(*best, *pending.front()) && best->tasks.size() >= base_window) break;
      if (send_next(*best, out) != Sent::ok) break;
    }
    for (Worker& w : each_worker()) flush(w);
  }

  // Sends `w` the first pending task still wanted (cancelled ones are dropped on the way).
  Sent send_next(Worker& w, std::vector<Completion>& out) {
    while (!pending.empty()) {
      auto& t = *pending.front();
      if (t.state && !t.started && t.state->ready()) {  // cancelled before it ran: skip
        pending.pop_front();
        continue;
      }
      std::uint64_t invoker = reinterpret_cast<std::uintptr_t>(t.invoker), fn = t.fn;
      Sent s = Sent::ok;
      try {
        if (portable) {
          s = send_code(w, invoker, invoker);
          if (s == Sent::ok) s = send_code(w, t.fn, fn);
        }
      } catch (...) {  // a function in no loaded object (portable mode): only this task fails
        out.emplace_back(std::move(pending.front()), PoolOutcome{false, {}, std::current_exception()});
        pending.pop_front();
        continue;
      }
      if (s == Sent::ok) {
        if (t.state && !t.started && !t.state->set_running()) {  // cancelled just now
          pending.pop_front();
          continue;
        }
        t.started = true;
        try {
          s = push(w, TaskHead{t.id, invoker, fn, kTask, 0}, t.args);
        } catch (...) {  // no memory for a big argument's memfd: only this task fails
          out.emplace_back(std::move(pending.front()), PoolOutcome{false, {}, std::current_exception()});
          pending.pop_front();
          continue;
        }
      }
      if (s == Sent::full) return s;  // stays first; the worker's replies make room
      if (s == Sent::gone) return s;  // its EOF is handled by the pool thread
      if (opt.task_timeout && w.tasks.empty()) w.deadline = Clock::now() + *opt.task_timeout;
      w.tasks.push_back(std::move(pending.front()));
      pending.pop_front();
      // Its last task: it will exit after it. Its successor starts now (on the pool thread), so
      // the pool keeps n workers taking tasks while this one finishes.
      if (opt.maxtasksperchild != 0 && w.ran + w.tasks.size() >= opt.maxtasksperchild) {
        w.retiring = true;
        want_spawn = true;
      }
      return s;
    }
    return Sent::ok;
  }

  // Takes every reply the worker has published. false: it broke the protocol (a garbage
  // record, a big reply that did not arrive) and has been killed; its EOF follows.
  bool drain(Worker& w, std::vector<Completion>& out) {
    bool ok = true;
    Bytes big;
    for (auto r = w.rx.front(); !r.empty(); w.rx.pop(), r = w.rx.front()) {
      if (r.size() < sizeof(ReplyHead)) {
        ok = false;
        break;
      }
      ReplyHead h;
      std::memcpy(&h, r.data(), sizeof h);
      std::span<const std::byte> payload = r.subspan(sizeof h);
      if ((h.flags & kBig) != 0) {
        if (!recv_blob(w.fd, big)) {
          ok = false;
          break;
        }
        payload = big;
      }
      if (h.kind == kInitFailed) {
        try {
          auto [type, msg] = decode<std::pair<std::string, std::string>>(payload);
          broken = std::make_exception_ptr(RemoteError(type, "pool initializer failed: " + msg, w.pid));
        } catch (...) {
          broken = std::make_exception_ptr(RemoteError("unknown", "pool initializer failed", w.pid));
        }
        for (auto& t : w.tasks) out.emplace_back(std::move(t), PoolOutcome{false, {}, broken});
        w.tasks.clear();
        fail_all_locked(out, broken);
        continue;  // its EOF follows; it is not replaced
      }
      if (w.tasks.empty() || w.tasks.front()->id != h.id) {
        ok = false;
        break;
      }
      PoolOutcome o;
      if (h.kind == kOk) {
        o.ok = true;
        o.value.assign(payload.begin(), payload.end());
      } else {
        try {
          auto [type, msg] = decode<std::pair<std::string, std::string>>(payload);
          o.error = std::make_exception_ptr(RemoteError(type, msg, w.pid));
        } catch (...) {
          o.error = std::current_exception();
        }
      }
      w.short_tasks = h.run_ns < kShortTaskNs;
      ++w.ran;
      out.emplace_back(std::move(w.tasks.front()), std::move(o));
      w.tasks.pop_front();
      if (opt.task_timeout && !w.tasks.empty()) w.deadline = Clock::now() + *opt.task_timeout;  // the next runs now
    }
    w.rx.release();
    if (!ok || w.rx.corrupt()) {
      kill_worker(w);
      return false;
    }
    return true;
  }

  // The worker's socket is readable: a big reply's frame (read by drain), or its EOF. A
  // worker that broke the protocol (a garbage record, a torn big reply, bytes on the socket
  // with no head for them) is killed and handled as dead here, at once.
  void service(Worker& w, std::vector<Completion>& out) {
    if (!drain(w, out)) {
      worker_died(w, out);
      return;
    }
    std::byte b;
    ssize_t r = ::recv(w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0) {  // a big reply's frame whose head was published after the drain above
      if (!drain(w, out)) {
        worker_died(w, out);
        return;
      }
      r = ::recv(w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r > 0 && !w.rx.readable()) {
        kill_worker(w);
        worker_died(w, out);
      }
      return;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      drain(w, out);  // what it published before it died counts
      worker_died(w, out);
    }
  }

  // The worker's EOF: the front task was running (it failed, or is retried, or was cancelled);
  // the ones behind it never started and go back to the front of the queue, in order.
  void worker_died(Worker& w, std::vector<Completion>& out) {
    ExitStatus st;
    pid_t pid = w.pid;
    reap(w, st);
    auto held = std::move(w.tasks);
    w.tasks.clear();
    std::deque<std::unique_ptr<PoolTask>> again;
    for (std::size_t i = 0; i < held.size(); ++i) {
      auto& t = held[i];
      if (w.cancel_id != 0 && t->id == w.cancel_id) {
        out.emplace_back(std::move(t), PoolOutcome{false, {}, std::make_exception_ptr(CancelledError())});
      } else if (i > 0 || w.cancel_id != 0) {
        again.push_back(std::move(t));  // not started, or killed for another task's sake
      } else if (w.timed_out) {
        ++t->kills;
        out.emplace_back(std::move(t), PoolOutcome{false, {}, std::make_exception_ptr(TimeoutError(
                                                                  "kin::Pool: the task passed its task_timeout; its worker was killed"))});
      } else if (++t->kills > opt.max_retries || t->kills >= opt.max_worker_kills) {
        out.emplace_back(std::move(t), PoolOutcome{false, {}, std::make_exception_ptr(WorkerLost(pid, st))});
      } else {
        again.push_back(std::move(t));
      }
    }
    pending.insert(pending.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
    w.seg.reset();  // its rings go with it: nothing it half-wrote is read
    w.tx = SpscRing{};
    w.rx = SpscRing{};
    if (!broken && !terminating && !w.retiring) spawn(w);
  }

  // On the pool thread: successors of retired workers start; retired ones that are gone go.
  void replenish_locked() {
    std::erase_if(workers, [](const std::unique_ptr<Worker>& w) { return w->retiring && w->fd < 0; });
    if (!want_spawn) return;
    want_spawn = false;
    if (broken || terminating) return;
    std::size_t active = 0;
    for (Worker& w : each_worker()) active += w.retiring ? 0 : 1;
    for (; active < n; ++active) {
      auto w = std::make_unique<Worker>();
      spawn(*w);
      workers.push_back(std::move(w));
    }
  }

  bool all_idle_locked() const {
    if (!pending.empty()) return false;
    for (Worker& w : each_worker())
      if (!w.tasks.empty()) return false;
    return true;
  }

  bool any_out_locked() const {
    for (Worker& w : each_worker())
      if (!w.tasks.empty()) return true;
    return false;
  }

  // Unlocked, on the pool thread (the only reader of the reply rings, and the only one that
  // replaces a worker): is a reply waiting?
  bool reply_waiting() const {
    for (Worker& w : each_worker())
      if (w.fd >= 0 && w.rx.readable()) return true;
    return false;
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<Completion> out;
    std::unique_lock lk(m);
    auto spin_until = Clock::now();
    // As a worker's: halved by a spin that ends in poll(), doubled by one that finds a reply.
    Clock::duration spin = kPoolSpin;
    bool spinning = false;
    for (;;) {
      if (terminating) break;
      if (stopping && all_idle_locked()) break;
      replenish_locked();
      dispatch_locked(out);
      // A worker that broke the protocol here (a torn big reply) has been killed: handle its
      // death now. Left for poll() to report its EOF, its unread head would keep
      // reply_waiting() true, and this loop would spin on it without ever polling.
      for (Worker& w : each_worker())
        if (w.fd >= 0 && !drain(w, out)) worker_died(w, out);
      if (closed && all_idle_locked()) idle_cv.notify_all();
      if (broken) fail_all_locked(out, broken);
      if (!out.empty()) {
        dispatch_locked(out);  // the replies made room: refill before the completions run
        lk.unlock();
        for (auto& [t, o] : out) t->complete(std::move(o));
        out.clear();
        lk.lock();
        if (spinning) spin = std::min<Clock::duration>(std::max<Clock::duration>(2 * spin, kMinSpin), kPoolSpin);
        spinning = false;
        spin_until = Clock::now() + spin;
        continue;
      }
      // Spin a while after the last reply (the next task of a round trip is usually on its way)
      // before sleeping in poll(), which costs a wake-up: an eventfd write by the worker and a
      // context switch here.
      if (Clock::now() < spin_until) {
        spinning = true;
        lk.unlock();
        for (int i = 0; i < 64 && !reply_waiting(); ++i) {
          for (int j = 0; j < 16; ++j) __builtin_ia32_pause();
          if ((i & 7) == 7) std::this_thread::yield();  // two cores: let a worker or a submitter run
        }
        lk.lock();
        continue;
      }
      if (want_spawn) continue;
      if (spinning) spin = std::max<Clock::duration>(spin / 2, kMinSpin);
      spinning = false;
      for (Worker& w : each_worker())
        if (w.fd >= 0) w.rx.park();
      if (reply_waiting()) {
        for (Worker& w : each_worker())
          if (w.fd >= 0) w.rx.unpark();
        continue;
      }
      fds.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      int timeout = -1;
      auto now = Clock::now();
      for (Worker& w : each_worker()) {
        fds.push_back({w.fd, POLLIN, 0});
        if (!w.tasks.empty() && opt.task_timeout && !w.timed_out) {
          auto ms = std::chrono::ceil<std::chrono::milliseconds>(w.deadline - now).count();
          int t = ms < 0 ? 0 : static_cast<int>(ms);
          timeout = timeout < 0 ? t : std::min(timeout, t);
        }
      }
      lk.unlock();
      int r = ::poll(fds.data(), fds.size(), timeout);
      lk.lock();
      if (r < 0 && errno != EINTR) break;
      for (Worker& w : each_worker())
        if (w.fd >= 0) w.rx.unpark();
      if (fds[0].revents != 0) {
        std::uint64_t v;
        ssize_t rr = ::read(wake_fd, &v, sizeof v);
        (void)rr;
      }
      now = Clock::now();
      for (std::size_t i = 0; i < workers.size(); ++i) {
        auto& w = *workers[i];
        if (w.fd < 0) continue;
        if (fds[i + 1].fd == w.fd && fds[i + 1].revents != 0) {
          service(w, out);
        } else if (!w.tasks.empty() && opt.task_timeout && !w.timed_out && now >= w.deadline) {
          w.timed_out = true;
          kill_worker(w);
        }
      }
      spin_until = Clock::now() + spin;
    }
    // Stop: join tells each worker to quit (after what it holds: nothing, the pool is idle);
    // terminate kills first.
    for (Worker& w : each_worker()) {
      if (w.fd < 0) continue;
      if (terminating) {
        kill_worker(w);
      } else if (push(w, TaskHead{0, 0, 0, kQuit, 0}, {}) == Sent::ok) {
        flush(w);
      } else {
        kill_worker(w);
      }
      ExitStatus st;
      reap(w, st);
      for (auto& t : w.tasks)
        out.emplace_back(std::move(t), PoolOutcome{false, {}, std::make_exception_ptr(CancelledError("kin::Pool was terminated before the task finished"))});
      w.tasks.clear();
    }
    fail_all_locked(out, std::make_exception_ptr(CancelledError("kin::Pool was terminated before the task ran")));
    finished = true;
    idle_cv.notify_all();
    lk.unlock();
    for (auto& [t, o] : out) t->complete(std::move(o));
  }
};

PoolCore::PoolCore(PoolOptions options, std::size_t default_prefetch) : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.portable = options.start_method && *options.start_method != StartMethod::fork;
  if (d.portable && options.initializer) {
    auto* fp = options.initializer.target<void (*)()>();
    if (fp == nullptr)
      throw StartMethodError(std::string("kin::Pool: under the ")
                                 .append(to_string(*options.start_method))
                                 .append(" start method the initializer must be a function pointer (`.initializer = &init` "
                                         "or `+[] { ... }`): a closure cannot reach another image of the program"));
    d.init_ref = code_ref_of(reinterpret_cast<const void*>(*fp));
  }
  d.opt = std::move(options);
  d.fixed_window = d.opt.prefetch.has_value();
  d.base_window = 1 + d.opt.prefetch.value_or(default_prefetch);
  d.n = d.opt.processes != 0 ? d.opt.processes : static_cast<std::size_t>(kin::process_cpu_count());
  if (d.n == 0) d.n = 1;
  d.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d.wake_fd < 0) throw OSError(errno, "kin::Pool: eventfd");
  for (std::size_t i = 0; i < d.n; ++i) d.workers.push_back(std::make_unique<Impl::Worker>());
  try {
    std::lock_guard lk(d.m);
    for (auto& w : d.each_worker()) d.spawn(w);
  } catch (...) {
    for (auto& w : d.each_worker())
      if (w.fd >= 0) {
        d.kill_worker(w);
        ExitStatus st;
        d.reap(w, st);
      }
    ::close(d.wake_fd);
    throw;
  }
  d.thread = std::thread([&d] { d.run(); });
}

PoolCore::~PoolCore() {
  terminate();
  if (impl_->thread.joinable()) impl_->thread.join();
  ::close(impl_->wake_fd);
}

// The caller's thread writes the task straight into a worker's ring (the pool thread is not
// woken: the worker's reply wakes it if it sleeps); only when every ring is full does the task
// wait in `pending` for the pool thread to place it as replies make room.
std::uint64_t PoolCore::submit(std::unique_ptr<PoolTask> task) {
  auto& d = *impl_;
  std::uint64_t id;
  std::vector<Impl::Completion> failed;
  bool retired = false;
  {
    std::lock_guard lk(d.m);
    if (d.closed || d.terminating) throw ValueError("kin::Pool: the pool is not running (closed or terminated)");
    if (d.broken) std::rethrow_exception(d.broken);
    id = task->id = d.next_id++;
    d.pending.push_back(std::move(task));
    d.dispatch_locked(failed);
    retired = d.want_spawn;
  }
  // A task deadline joins the pool thread's poll timeout; a retired worker's successor is
  // started there.
  if (d.opt.task_timeout || retired) d.wake();
  for (auto& [t, o] : failed) t->complete(std::move(o));
  return id;
}

void PoolCore::submit_all(std::vector<std::unique_ptr<PoolTask>>& tasks) {
  auto& d = *impl_;
  std::vector<Impl::Completion> failed;
  bool retired = false;
  {
    std::lock_guard lk(d.m);
    if (d.closed || d.terminating) throw ValueError("kin::Pool: the pool is not running (closed or terminated)");
    if (d.broken) std::rethrow_exception(d.broken);
    for (auto& t : tasks) {
      t->id = d.next_id++;
      d.pending.push_back(std::move(t));
    }
    d.dispatch_locked(failed);
    retired = d.want_spawn;
  }
  tasks.clear();
  if (d.opt.task_timeout || retired) d.wake();
  for (auto& [t, o] : failed) t->complete(std::move(o));
}

void PoolCore::close() {
  std::lock_guard lk(impl_->m);
  impl_->closed = true;
}

void PoolCore::join() {
  auto& d = *impl_;
  {
    std::unique_lock lk(d.m);
    if (!d.closed && !d.terminating) throw ValueError("kin::Pool: join() before close() or terminate()");
    d.stopping = true;
  }
  d.wake();
  if (d.thread.joinable()) d.thread.join();
}

void PoolCore::terminate() {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.m);
    d.closed = true;
    d.terminating = true;
  }
  d.wake();
  if (d.thread.joinable()) d.thread.join();
}

bool PoolCore::kill_task(std::uint64_t id) {
  std::lock_guard lk(impl_->m);
  for (auto& w : impl_->each_worker()) {
    if (w.fd < 0) continue;
    for (auto& t : w.tasks)
      if (t->id == id) {  // running, or sent behind the running one: the worker goes either way
        w.cancel_id = id;
        impl_->kill_worker(w);
        return true;
      }
  }
  return false;
}

void PoolCore::cancel_pending() {
  std::deque<std::unique_ptr<PoolTask>> dropped;
  {
    std::lock_guard lk(impl_->m);
    dropped.swap(impl_->pending);
  }
  for (auto& t : dropped) t->complete(PoolOutcome{false, {}, std::make_exception_ptr(CancelledError())});
}

std::size_t PoolCore::processes() const noexcept { return impl_->n; }

std::vector<pid_t> PoolCore::worker_pids() const {
  std::lock_guard lk(impl_->m);
  std::vector<pid_t> v;
  for (auto& w : impl_->each_worker())
    if (w.fd >= 0 && !w.retiring) v.push_back(w.pid);
  return v;
}

}  // namespace kin::detail
