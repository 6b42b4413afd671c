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
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/syscall.hpp>

#include "process_globals.hpp"

namespace kin::detail {
namespace {

using Clock = std::chrono::steady_clock;

enum : std::uint8_t { kOk = 0, kError = 1, kInitFailed = 2 };

// Frames: [u32 length of the rest][u64 a][u64 b][u64 c][payload]. Requests carry
// (id, invoker, fn); replies carry (id, kind, 0).
struct Header {
  std::uint32_t len;
  std::uint64_t a, b, c;
} __attribute__((packed));

// Through kin's one SIGPIPE-safe writer (gathered: header and payload in one sendmsg) and its
// one frame reader (exact: a worker's socket is read by poll-driven code that must find
// nothing buffered behind a frame). false: the peer is gone or sent garbage.
bool send_frame(int fd, std::uint64_t a, std::uint64_t b, std::uint64_t c, std::span<const std::byte> payload) {
  Header h{static_cast<std::uint32_t>(24 + payload.size()), a, b, c};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  try {
    write_all(fd, iov, payload.empty() ? 1 : 2, FdKind::socket);
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool recv_frame(int fd, Header& h, Bytes& payload) {
  try {
    payload = read_frame(fd);
  } catch (const Error&) {
    return false;
  }
  if (payload.size() < 24) return false;
  h.len = static_cast<std::uint32_t>(payload.size());
  std::memcpy(&h.a, payload.data(), 8);
  std::memcpy(&h.b, payload.data() + 8, 8);
  std::memcpy(&h.c, payload.data() + 16, 8);
  payload.erase(payload.begin(), payload.begin() + 24);
  return true;
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
// mean nothing: there a request carries code ids, each defined once per worker by a frame with
// task id 0 whose payload is the function's CodeRef (object, offset). Fork workers get the
// addresses themselves.
using CodeTuple = std::tuple<std::string, std::uint64_t>;

[[noreturn]] void worker_main(int fd, const PoolOptions& opt, bool portable) {
  Bytes in, out;
  std::vector<std::uintptr_t> codes;  // portable: code id -> address here (0: not found)
  if (opt.initializer) {
    try {
      opt.initializer();
    } catch (...) {
      auto e = encode(describe_current());
      send_frame(fd, 0, kInitFailed, 0, e);
      detail::flush_std_streams();
      ::_exit(1);
    }
  }
  std::size_t done = 0;
  Header h{};
  while (recv_frame(fd, h, in)) {
    if (portable && h.a == 0) {  // a code definition, in id order
      if (h.b != codes.size()) break;
      std::uintptr_t addr = 0;
      try {
        auto [object, offset] = decode<CodeTuple>(in);
        addr = reinterpret_cast<std::uintptr_t>(resolve_code_ref(CodeRef{std::move(object), offset}));
      } catch (...) {  // reported by the task that needs it
      }
      codes.push_back(addr);
      continue;
    }
    out.clear();
    std::uint8_t kind = kOk;
    try {
      std::uintptr_t invoker = h.b, fn = h.c;
      if (portable) {
        invoker = h.b < codes.size() ? codes[h.b] : 0;
        fn = h.c < codes.size() ? codes[h.c] : 0;
        if (invoker == 0 || fn == 0)
          throw StartMethodError("kin::Pool: a task's function is not in this worker's image of the program");
      }
      reinterpret_cast<PoolInvoker>(invoker)(fn, in, out);
    } catch (...) {
      kind = kError;
      out = encode(describe_current());
    }
    if (!send_frame(fd, h.a, kind, 0, out)) break;
    if (opt.maxtasksperchild != 0 && ++done >= opt.maxtasksperchild) break;
  }
  detail::leave_child(0);  // joins the worker's own non-daemon threads and flushes, as Python
}

// The target of a spawn or forkserver worker (a kin::Process): its socket arrives as a
// Connection, its initializer as a CodeRef.
void pool_worker_entry(Connection<int> conn, std::string init_object, std::uint64_t init_offset, bool has_init,
                       std::uint64_t maxtasksperchild) {
  PoolOptions opt;
  opt.maxtasksperchild = static_cast<std::size_t>(maxtasksperchild);
  if (has_init) opt.initializer = reinterpret_cast<void (*)()>(resolve_code_ref(CodeRef{std::move(init_object), init_offset}));
  worker_main(conn.fileno(), opt, true);
}

}  // namespace

struct PoolCore::Impl {
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    std::optional<Process> proc;  // spawn/forkserver workers (fork workers are raw children)
    std::size_t codes_known = 0;  // portable: code ids this worker has been told
    // Sent and not yet answered, in the order sent: the worker runs them in that order, so the
    // front is the one running and the others have not started.
    std::deque<std::unique_ptr<PoolTask>> tasks;
    Clock::time_point deadline{};  // of the front task (task_timeout)
    bool timed_out = false;
    std::uint64_t cancel_id = 0;  // kill_task(): the task its worker was killed for
    std::size_t ran = 0;  // replies received; at maxtasksperchild the worker is retiring
  };

  PoolOptions opt;
  std::size_t n = 0;
  std::size_t window = 1;  // tasks in flight per worker: 1 + opt.prefetch
  bool portable = false;               // spawn/forkserver workers
  std::optional<CodeRef> init_ref;     // portable: where the initializer is
  std::vector<CodeRef> codes;          // portable: every function sent so far, by id
  std::unordered_map<std::uintptr_t, std::uint64_t> code_ids;
  mutable std::mutex m;
  std::condition_variable idle_cv;
  std::deque<std::unique_ptr<PoolTask>> pending;
  std::vector<Worker> workers;
  std::exception_ptr broken;  // initializer failure
  std::uint64_t next_id = 1;
  bool closed = false, stopping = false, terminating = false, finished = false;
  int wake_fd = -1;
  std::thread thread;

  using Completion = std::pair<std::unique_ptr<PoolTask>, PoolOutcome>;

  void wake() {
    std::uint64_t one = 1;
    ssize_t r = ::write(wake_fd, &one, sizeof one);
    (void)r;
  }

  // Called with m held, from whichever thread holds it.
  void spawn(Worker& w) {
    if (portable) {
      start_process_worker(w);
      return;
    }
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
      // Only its own socket stays open: a copy of another pool's or a sibling's socket end
      // held here would hide that worker's death (no EOF) from its parent.
      const unsigned keep = static_cast<unsigned>(sv[1]);
      if (keep > 3) ::close_range(3, keep - 1, 0);
      ::close_range(keep + 1, ~0U, 0);
      detail::forget_children_after_fork();
      self.pid = ::getpid();
      detail::become_child(std::move(self), std::move(parent_info), parent, StartMethod::fork);
      worker_main(sv[1], opt, false);
    }
    ::close(sv[1]);
    w = Worker{};
    w.pid = pid;
    w.fd = sv[0];
  }

  void start_process_worker(Worker& w) {
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
      p.start();
    } catch (...) {
      ::close(fd);
      throw;
    }
    w = Worker{};
    w.pid = p.pid();
    w.fd = fd;
    w.proc.emplace(std::move(p));
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

  // Portable mode: the id of the function at `addr`, defined for worker `w` first if new to it.
  bool send_code(Worker& w, std::uintptr_t addr, std::uint64_t& id) {
    auto it = code_ids.find(addr);
    if (it == code_ids.end()) {
      codes.push_back(code_ref_of(reinterpret_cast<const void*>(addr)));  // StartMethodError if nowhere
      it = code_ids.emplace(addr, codes.size() - 1).first;
    }
    id = it->second;
    for (; w.codes_known < codes.size(); ++w.codes_known) {
      const auto& c = codes[w.codes_known];
      if (!send_frame(w.fd, 0, w.codes_known, 0, encode(CodeTuple{c.object, c.offset}))) return false;
    }
    return true;
  }

  bool send_task(Worker& w, PoolTask& t) {
    std::uint64_t invoker = reinterpret_cast<std::uintptr_t>(t.invoker), fn = t.fn;
    if (portable && !(send_code(w, invoker, invoker) && send_code(w, t.fn, fn))) return false;
    return send_frame(w.fd, t.id, invoker, fn, t.args);
  }

  void fail_all_locked(std::vector<Completion>& out, const std::exception_ptr& why) {
    for (auto& t : pending) out.emplace_back(std::move(t), PoolOutcome{false, {}, why});
    pending.clear();
  }

  bool can_take(const Worker& w, std::size_t depth) const {
    if (w.fd < 0 || w.tasks.size() >= depth) return false;
    // A worker at maxtasksperchild is exiting: it gets no more than it will still run.
    return opt.maxtasksperchild == 0 || w.ran + w.tasks.size() < opt.maxtasksperchild;
  }

  // Round-robin, one task per worker per pass, so a short burst spreads over the workers
  // before any worker's window fills.
  void dispatch_locked(std::vector<Completion>& out) {
    for (std::size_t depth = 1; depth <= window; ++depth)
      for (auto& w : workers) {
        if (pending.empty()) return;
        if (can_take(w, depth)) send_next(w, out);
      }
  }

  // Sends `w` the first pending task still wanted (cancelled ones are dropped on the way).
  void send_next(Worker& w, std::vector<Completion>& out) {
    while (!pending.empty()) {
      auto t = std::move(pending.front());
      pending.pop_front();
      if (t->state && !t->started && !t->state->set_running()) continue;  // cancelled before it ran: skip
      t->started = true;
      bool sent = false;
      try {
        sent = send_task(w, *t);
      } catch (...) {  // a function in no loaded object (portable mode): only this task fails
        out.emplace_back(std::move(t), PoolOutcome{false, {}, std::current_exception()});
        continue;
      }
      if (!sent) {
        pending.push_front(std::move(t));  // the worker is gone; its EOF is handled below
        return;
      }
      if (opt.task_timeout && w.tasks.empty()) w.deadline = Clock::now() + *opt.task_timeout;
      w.tasks.push_back(std::move(t));
      return;
    }
  }

  // The worker's socket is readable: replies (all that are there), or its death.
  void service(Worker& w, std::vector<Completion>& out) {
    Header h{};
    Bytes payload;
    while (recv_frame(w.fd, h, payload)) {
      if (h.b == kInitFailed) {
        auto [type, msg] = decode<std::pair<std::string, std::string>>(payload);
        broken = std::make_exception_ptr(RemoteError(type, "pool initializer failed: " + msg, w.pid));
        for (auto& t : w.tasks) out.emplace_back(std::move(t), PoolOutcome{false, {}, broken});
        w.tasks.clear();
        fail_all_locked(out, broken);
        return;  // its EOF follows; it is not replaced
      }
      if (!w.tasks.empty() && w.tasks.front()->id == h.a) {
        PoolOutcome o;
        if (h.b == kOk) {
          o.ok = true;
          o.value = std::move(payload);
        } else {
          auto [type, msg] = decode<std::pair<std::string, std::string>>(payload);
          o.error = std::make_exception_ptr(RemoteError(type, msg, w.pid));
        }
        ++w.ran;
        out.emplace_back(std::move(w.tasks.front()), std::move(o));
        w.tasks.pop_front();
        if (opt.task_timeout && !w.tasks.empty()) w.deadline = Clock::now() + *opt.task_timeout;  // the next runs now
      }
      // More replies already there are taken in this turn (one poll() for a batch); an empty
      // socket ends it. With nothing outstanding no poll: the RTT path (one task in flight)
      // costs no extra syscall, and an EOF shows at the next wait of the loop.
      if (w.tasks.empty() || poll_fd(w.fd, POLLIN, std::chrono::milliseconds{0}) == 0) return;
    }
    worker_died(w, out);  // EOF or garbage
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
    if (!broken && !terminating) spawn(w);
  }

  bool all_idle_locked() const {
    if (!pending.empty()) return false;
    for (auto& w : workers)
      if (!w.tasks.empty()) return false;
    return true;
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<Completion> out;
    std::unique_lock lk(m);
    for (;;) {
      if (terminating) break;
      if (stopping && all_idle_locked()) break;
      dispatch_locked(out);
      if (closed && all_idle_locked()) idle_cv.notify_all();
      if (!out.empty()) {
        lk.unlock();
        for (auto& [t, o] : out) t->done(std::move(o));
        out.clear();
        lk.lock();
        continue;
      }
      fds.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      int timeout = -1;
      auto now = Clock::now();
      for (auto& w : workers) {
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
      if (fds[0].revents != 0) {
        std::uint64_t v;
        ssize_t rr = ::read(wake_fd, &v, sizeof v);
        (void)rr;
      }
      now = Clock::now();
      for (std::size_t i = 0; i < workers.size(); ++i) {
        auto& w = workers[i];
        if (w.fd < 0) continue;
        if (fds[i + 1].fd == w.fd && fds[i + 1].revents != 0) {
          service(w, out);
        } else if (!w.tasks.empty() && opt.task_timeout && !w.timed_out && now >= w.deadline) {
          w.timed_out = true;
          kill_worker(w);
        }
      }
      // Workers of a broken pool are not replaced; once all are gone nothing can run.
      if (broken) fail_all_locked(out, broken);
    }
    // Stop: join closes the sockets (workers exit on EOF); terminate kills first.
    for (auto& w : workers) {
      if (w.fd < 0) continue;
      if (terminating) kill_worker(w);
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
    for (auto& [t, o] : out) t->done(std::move(o));
  }
};

PoolCore::PoolCore(PoolOptions options) : impl_(std::make_unique<Impl>()) {
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
  d.window = 1 + d.opt.prefetch.value_or(2);
  d.n = d.opt.processes != 0 ? d.opt.processes : static_cast<std::size_t>(kin::process_cpu_count());
  if (d.n == 0) d.n = 1;
  d.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d.wake_fd < 0) throw OSError(errno, "kin::Pool: eventfd");
  d.workers.resize(d.n);
  try {
    std::lock_guard lk(d.m);
    for (auto& w : d.workers) d.spawn(w);
  } catch (...) {
    for (auto& w : d.workers)
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

std::uint64_t PoolCore::submit(std::unique_ptr<PoolTask> task) {
  auto& d = *impl_;
  std::uint64_t id;
  {
    std::lock_guard lk(d.m);
    if (d.closed || d.terminating) throw ValueError("kin::Pool: the pool is not running (closed or terminated)");
    if (d.broken) std::rethrow_exception(d.broken);
    id = task->id = d.next_id++;
    d.pending.push_back(std::move(task));
  }
  d.wake();
  return id;
}

void PoolCore::submit_all(std::vector<std::unique_ptr<PoolTask>>& tasks) {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.m);
    if (d.closed || d.terminating) throw ValueError("kin::Pool: the pool is not running (closed or terminated)");
    if (d.broken) std::rethrow_exception(d.broken);
    for (auto& t : tasks) {
      t->id = d.next_id++;
      d.pending.push_back(std::move(t));
    }
  }
  tasks.clear();
  d.wake();
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
  for (auto& w : impl_->workers) {
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
  for (auto& t : dropped) t->done(PoolOutcome{false, {}, std::make_exception_ptr(CancelledError())});
}

std::size_t PoolCore::processes() const noexcept { return impl_->n; }

std::vector<pid_t> PoolCore::worker_pids() const {
  std::lock_guard lk(impl_->m);
  std::vector<pid_t> v;
  for (auto& w : impl_->workers)
    if (w.fd >= 0) v.push_back(w.pid);
  return v;
}

}  // namespace kin::detail
