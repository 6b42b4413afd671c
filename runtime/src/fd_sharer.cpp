// The fd sharer (fd_sharer.hpp). Wire, after the handshake: the client sends one kin frame
// holding the encoded ids; the server answers a status byte and a u32 count with the fds
// attached, closes its duplicates, then closes the connection, so that a client which returns
// after that EOF never sees the server still holding them.
#include <kin/runtime/fd_sharer.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/auth.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/runtime_resources.hpp>
#include <kin/runtime/socket_util.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

namespace kin::detail {

namespace {

constexpr auto kClientBound = std::chrono::seconds(5);

struct Sharer {
  std::string name;  // the abstract socket's name (without its leading NUL)
  std::string key;
  unique_fd listener;
  std::map<std::uint64_t, unique_fd> fds;
  std::uint64_t next_id = 1;
};

std::mutex g_mu;
Sharer* g_sharer = nullptr;  // never destroyed: its thread may run until the process ends

sockaddr_un abstract_address(const std::string& name, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof a.sun_path) throw ProtocolError("kin: an fd ticket names an over-long socket");
  std::memcpy(a.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: the abstract namespace
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

void serve_one(Sharer& s, unique_fd c) {
  const auto deadline = Deadline::after(kClientBound);
  run_handshake(c.get(), s.key, Handshake::Role::server, deadline);
  auto frame = read_frame(c.get(), deadline, 64 * 1024);
  if (!frame) return;
  const auto ids = decode<std::vector<std::uint64_t>>(*frame);
  std::vector<unique_fd> out;
  {
    std::lock_guard g{g_mu};
    bool all = ids.size() <= kMaxFdsPerMessage;
    for (auto id : ids) all = all && s.fds.count(id) != 0;
    if (all)
      for (auto id : ids) {
        out.push_back(std::move(s.fds[id]));
        s.fds.erase(id);
      }
  }
  std::byte reply[5]{};
  reply[0] = std::byte{out.size() == ids.size() ? std::uint8_t{0} : std::uint8_t{1}};
  const auto n = static_cast<std::uint32_t>(out.size());
  std::memcpy(reply + 1, &n, sizeof n);
  std::vector<int> raw;
  for (auto& f : out) raw.push_back(f.get());
  send_with_fds(c.get(), reply, raw);
  out.clear();  // our duplicates are closed before the connection is: see the top
}

void serve(Sharer* s) {
  for (;;) {
    unique_fd c{::accept4(s->listener.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    if (!c) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      return;  // the listener was closed
    }
    try {
      serve_one(*s, std::move(c));
    } catch (const std::exception&) {
      // a client with a wrong key, garbage, or too slow: it alone is dropped
    }
  }
}

Sharer& sharer() {  // under g_mu
  if (g_sharer != nullptr) return *g_sharer;
  auto s = std::make_unique<Sharer>();
  s->name = "kin-fds-" + std::to_string(::getpid()) + "-" + random_hex(8);
  s->key = random_hex(32);
  s->listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s->listener) throw OSError(errno, "kin: fd sharer socket");
  socklen_t len = 0;
  auto a = abstract_address(s->name, len);
  if (::bind(s->listener.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(s->listener.get(), 64) != 0)
    throw OSError(errno, "kin: fd sharer bind/listen");
  note_runtime_fd(s->listener.get());
  g_sharer = s.release();
  std::thread(serve, g_sharer).detach();
  return *g_sharer;
}

// kin's fork handler: the child owns no sharer (the parent's thread is not there); it closes
// its copies of the parent's shared fds and of its socket, and starts its own when it needs one.
void lock_for_fork() { g_mu.lock(); }
void unlock_after_fork() { g_mu.unlock(); }
void reset_in_child() {
  g_mu.unlock();  // taken by lock_for_fork on the thread that forked, which the child runs on
  if (g_sharer != nullptr) {
    forget_runtime_fd(g_sharer->listener.get());
    g_sharer->listener.reset();
    g_sharer->fds.clear();
    g_sharer = nullptr;  // leaked: the parent's thread might have been inside it
  }
}
[[maybe_unused]] const int g_hooked = at_fork(lock_for_fork, unlock_after_fork, reset_in_child);

}  // namespace

std::vector<std::uint64_t> append_fd_ticket(Bytes& out, std::vector<unique_fd> fds) {
  std::vector<std::uint64_t> ids;
  std::string name, key;
  {
    std::lock_guard g{g_mu};
    Sharer& s = sharer();
    for (auto& f : fds) {
      const auto id = s.next_id++;
      s.fds.emplace(id, std::move(f));
      ids.push_back(id);
    }
    name = s.name;
    key = s.key;
  }
  // [u32 length][encoded (name, key, ids)]: the receiver decodes exactly the ticket.
  const Bytes ticket = encode(std::make_tuple(name, key, ids));
  const auto n = static_cast<std::uint32_t>(ticket.size());
  const auto* p = reinterpret_cast<const std::byte*>(&n);
  out.insert(out.end(), p, p + sizeof n);
  out.insert(out.end(), ticket.begin(), ticket.end());
  return ids;
}

void withdraw_fds(const std::vector<std::uint64_t>& ids) noexcept {
  std::lock_guard g{g_mu};
  if (g_sharer == nullptr) return;
  for (auto id : ids) g_sharer->fds.erase(id);
}

std::vector<unique_fd> take_fd_ticket(std::span<const std::byte>& in) {
  std::uint32_t size = 0;
  if (in.size() < sizeof size) throw ProtocolError("kin: a truncated fd ticket");
  std::memcpy(&size, in.data(), sizeof size);
  if (in.size() - sizeof size < size) throw ProtocolError("kin: a truncated fd ticket");
  auto [name, key, ids] =
      decode<std::tuple<std::string, std::string, std::vector<std::uint64_t>>>(in.subspan(sizeof size, size));
  in = in.subspan(sizeof size + size);
  if (ids.empty() || ids.size() > kMaxFdsPerMessage) throw ProtocolError("kin: an fd ticket with a bad count");
  const auto deadline = Deadline::after(kClientBound);
  unique_fd c{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!c) throw OSError(errno, "kin: socket");
  socklen_t len = 0;
  auto a = abstract_address(name, len);
  try {
    connect_unix(c.get(), a, len, "the fd sharer of the process that put this message", deadline);
  } catch (const TimeoutError&) {
    throw TimeoutError("kin: the process that put this message (holding fds) did not accept within 5 s");
  } catch (const OSError& e) {
    throw OSError(e.error_code(), "kin: the process that put this message (holding fds) is gone; its fds went with it");
  }
  run_handshake(c.get(), key, Handshake::Role::client, deadline);
  Bytes req(kFrameHeaderSize);
  encode_into(req, ids);
  write_prefixed_frame(c.get(), req, kDefaultMaxFrame, FdKind::socket, deadline);
  std::byte reply[5];
  std::vector<unique_fd> fds;
  // The reply is one sendmsg of 5 bytes: once it is readable, it is all there.
  pollfd ready{c.get(), POLLIN, 0};
  int polled = 0;
  while ((polled = ::poll(&ready, 1, deadline.poll_ms())) < 0 && errno == EINTR) {
  }
  if (polled == 0) throw TimeoutError("kin: the process that put this message did not hand its fds over within 5 s");
  recv_with_fds(c.get(), reply, fds);
  std::uint32_t n = 0;
  std::memcpy(&n, reply + 1, sizeof n);
  if (reply[0] != std::byte{0} || n != ids.size() || fds.size() != ids.size())
    throw ProtocolError("kin: the fds of this message were taken already (each is handed out once)");
  // Until the sharer closes the connection it may still hold its duplicates.
  pollfd p{c.get(), POLLIN, 0};
  char byte = 0;
  while (::poll(&p, 1, deadline.poll_ms()) > 0 && ::read(c.get(), &byte, 1) > 0) {
  }
  return fds;
}

}  // namespace kin::detail
