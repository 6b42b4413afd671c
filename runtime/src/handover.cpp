#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace kin::detail {

namespace {
thread_local std::vector<unique_fd>* g_export = nullptr;
thread_local std::vector<unique_fd>* g_import = nullptr;
}  // namespace

HandoverExport::HandoverExport(std::vector<unique_fd>& out) noexcept
    : previous_(std::exchange(g_export, &out)) {}
HandoverExport::~HandoverExport() { g_export = previous_; }

HandoverImport::HandoverImport(std::vector<unique_fd>& in) noexcept
    : previous_(std::exchange(g_import, &in)) {}
HandoverImport::~HandoverImport() { g_import = previous_; }

unique_fd dup_fd(int fd) { return unique_fd{check(::fcntl(fd, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)")}; }

std::uint32_t handover_export(int fd) {
  if (g_export == nullptr)
    throw ValueError(
        "kin: this object holds an fd (a Connection, Queue, Value, lock...), which can travel only as a "
        "start argument of a child, inside a message on a Unix-socket Connection (a duplex kin::Pipe, "
        "a Unix-path Listener/Client) or on a kin::Queue, not over a TCP link");
  if (g_export->size() >= kMaxFdsPerMessage)
    throw ValueError("kin: too many fd-carrying objects in one message (at most " +
                     std::to_string(kMaxFdsPerMessage) + ")");
  g_export->push_back(dup_fd(fd));
  return static_cast<std::uint32_t>(g_export->size() - 1);
}

unique_fd handover_import(std::uint32_t slot) {
  if (g_import == nullptr || slot >= g_import->size() || !(*g_import)[slot])
    throw ProtocolError("kin: handed-over object refers to a missing fd slot " + std::to_string(slot));
  return std::move((*g_import)[slot]);
}

bool is_unix_socket(int fd) noexcept {
  int domain = 0;
  socklen_t len = sizeof domain;
  return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

ssize_t send_some_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds, int flags) {
  if (fds.size() > kMaxFdsPerMessage) throw ValueError("kin: too many fds in one message");
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  std::memset(control, 0, sizeof control);
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(sock, &msg, flags);
}

void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
  if (fds.size() > kMaxFdsPerMessage) throw ValueError("kin: too many fds in one message");
  if (fds.empty()) {
    if (!bytes.empty()) write_all(sock, bytes.data(), bytes.size(), FdKind::socket);
    return;
  }
  const std::byte dummy[1] = {std::byte{0}};  // fds need at least one byte to ride on
  const auto first = bytes.empty() ? std::span<const std::byte>(dummy) : bytes;
  ssize_t n;
  for (;;) {
    n = send_some_with_fds(sock, first, fds, MSG_NOSIGNAL);
    if (n >= 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {  // a non-blocking socket that is full: wait, as write_all does
      poll_fd(sock, POLLOUT, std::chrono::milliseconds{-1});
      continue;
    }
    if (err == EPIPE || err == ECONNRESET) throw BrokenPipeError("kin: sendmsg: the peer has closed");
    throw_errno("sendmsg", err);
  }
  // The fds went with the first bytes; the rest is an ordinary write.
  if (!bytes.empty() && static_cast<std::size_t>(n) < bytes.size())
    write_all(sock, bytes.data() + n, bytes.size() - static_cast<std::size_t>(n), FdKind::socket);
}

ssize_t recv_some_with_fds(int sock, std::span<std::byte> buf, std::vector<unique_fd>& fds, bool& truncated,
                           int flags) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  const int saved = errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      unique_fd owned{fd};  // owned before the vector may throw
      fds.push_back(std::move(owned));
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) truncated = true;
  errno = saved;
  return n;
}

void recv_with_fds(int sock, std::span<std::byte> bytes, std::vector<unique_fd>& fds) {
  std::size_t got = 0;
  while (got < bytes.size()) {
    bool truncated = false;
    ssize_t n = retry_eintr([&] { return recv_some_with_fds(sock, bytes.subspan(got), fds, truncated); });
    if (n < 0) throw_errno("recvmsg");
    if (truncated) throw ProtocolError("kin: received fds were truncated");
    if (n == 0) {
      if (got == 0) throw EOFError("kin: peer closed before sending");
      throw ProtocolError("kin: peer closed in the middle of a message");
    }
    got += static_cast<std::size_t>(n);
  }
}

void ReceivedFds::add(std::uint64_t end, std::vector<unique_fd> fds, bool truncated) {
  if (fds.empty() && !truncated) return;
  pending_.push_back(Entry{end, std::move(fds), truncated});
}

std::vector<unique_fd> ReceivedFds::take(std::uint64_t begin, std::uint64_t end, bool& truncated) {
  std::vector<unique_fd> out;
  std::size_t used = 0;
  for (auto& e : pending_) {
    if (e.end > end) break;   // a later frame's
    ++used;
    if (e.end <= begin) continue;  // an earlier frame's, dropped unread: closed below
    truncated = truncated || e.truncated;
    for (auto& fd : e.fds) out.push_back(std::move(fd));
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
  return out;
}

void ReceivedFds::drop_until(std::uint64_t end) noexcept {
  std::size_t n = 0;
  while (n < pending_.size() && pending_[n].end <= end) ++n;
  if (n > 0) pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace kin::detail
