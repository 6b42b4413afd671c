#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace kin::detail {

namespace {
thread_local std::vector<unique_fd>* g_export = nullptr;
thread_local std::vector<unique_fd>* g_import = nullptr;
constexpr std::size_t kMaxFdsPerMessage = 250;  // SCM_MAX_FD is 253
}  // namespace

HandoverExport::HandoverExport(std::vector<unique_fd>& out) noexcept
    : previous_(std::exchange(g_export, &out)) {}
HandoverExport::~HandoverExport() { g_export = previous_; }

HandoverImport::HandoverImport(std::vector<unique_fd>& in) noexcept
    : previous_(std::exchange(g_import, &in)) {}
HandoverImport::~HandoverImport() { g_import = previous_; }

std::uint32_t handover_export(int fd) {
  if (g_export == nullptr)
    throw ValueError("kin: this object can only be sent to a child as a start argument");
  if (g_export->size() >= kMaxFdsPerMessage)
    throw ValueError("kin: too many fd-carrying objects in one start request");
  g_export->emplace_back(check(::fcntl(fd, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)"));
  return static_cast<std::uint32_t>(g_export->size() - 1);
}

unique_fd handover_import(std::uint32_t slot) {
  if (g_import == nullptr || slot >= g_import->size() || !(*g_import)[slot])
    throw ProtocolError("kin: handed-over object refers to a missing fd slot " + std::to_string(slot));
  return std::move((*g_import)[slot]);
}

void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
  if (fds.size() > kMaxFdsPerMessage) throw ValueError("kin: too many fds in one message");
  std::size_t sent = 0;
  bool fds_sent = fds.empty();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  while (sent < bytes.size() || !fds_sent) {
    iovec iov{const_cast<std::byte*>(bytes.data() + sent), bytes.size() - sent};
    std::byte dummy{0};
    if (iov.iov_len == 0) iov = {&dummy, 1};  // fds need at least one byte to ride on
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds_sent) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
    if (n < 0) throw_errno("sendmsg");
    fds_sent = true;
    if (iov.iov_base != &dummy) sent += static_cast<std::size_t>(n);
  }
}

void recv_with_fds(int sock, std::span<std::byte> bytes, std::vector<unique_fd>& fds) {
  std::size_t got = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  while (got < bytes.size()) {
    iovec iov{bytes.data() + got, bytes.size() - got};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
    if (n < 0) throw_errno("recvmsg");
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) throw ProtocolError("kin: received fds were truncated");
    if (n == 0) {
      if (got == 0) throw EOFError("kin: peer closed before sending");
      throw ProtocolError("kin: peer closed in the middle of a message");
    }
    got += static_cast<std::size_t>(n);
  }
}

}  // namespace kin::detail
