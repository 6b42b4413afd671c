// Handing kin objects (connections, queues, values, locks) to a child under the spawn and
// forkserver start methods. Their arguments are encoded with kin's codec; an object that owns
// fds writes, in its `inspect` overload, an *index* into a side list of fds instead of the fd
// number. The start method sends that list with SCM_RIGHTS beside the bytes, and the child
// decodes with the received fds installed. Under fork nothing is encoded: objects are copied
// and their fds inherited. The same scopes let a Connection on a Unix socket carry such objects
// in its messages (connection_core.hpp): the frame's fds ride beside it as SCM_RIGHTS, attached
// to the frame's first byte; the reader gives each frame the fds that came with it
// (ReceivedFds below).
//
//   template <class Inspector>
//   typename Inspector::result_type inspect(Inspector& f, Connection<T>& x) {
//     std::uint32_t slot = 0;
//     if constexpr (Inspector::reads_state) slot = detail::handover_export(x.fd());   // encode
//     f(slot);
//     if constexpr (Inspector::writes_state) x = Connection<T>{detail::handover_import(slot)};
//   }
#pragma once

#include <kin/runtime/unique_fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kin::detail {

/// While alive on this thread, handover_export() appends dups of fds to `out`.
class HandoverExport {
 public:
  explicit HandoverExport(std::vector<unique_fd>& out) noexcept;
  HandoverExport(const HandoverExport&) = delete;
  HandoverExport& operator=(const HandoverExport&) = delete;
  ~HandoverExport();

 private:
  std::vector<unique_fd>* previous_;
};

/// While alive on this thread, handover_import() takes fds out of `in`.
class HandoverImport {
 public:
  explicit HandoverImport(std::vector<unique_fd>& in) noexcept;
  HandoverImport(const HandoverImport&) = delete;
  HandoverImport& operator=(const HandoverImport&) = delete;
  ~HandoverImport();

 private:
  std::vector<unique_fd>* previous_;
};

/// Records a duplicate of `fd` for the receiver and returns its slot. Throws ValueError outside
/// a HandoverExport (a Queue, Value or TCP link has no way to carry an fd), naming the ways an
/// fd-holding object can travel.
std::uint32_t handover_export(int fd);
/// Takes the fd in `slot` (each slot once). Throws ProtocolError for a bad or used slot.
unique_fd handover_import(std::uint32_t slot);

/// fcntl(F_DUPFD_CLOEXEC), OSError when it fails.
[[nodiscard]] unique_fd dup_fd(int fd);

/// The most fds one message carries (the kernel's SCM_MAX_FD is 253).
inline constexpr std::size_t kMaxFdsPerMessage = 250;

/// True when `fd` is an AF_UNIX socket, the only kind that can carry fds.
[[nodiscard]] bool is_unix_socket(int fd) noexcept;

/// One sendmsg() of `bytes` (at least one byte) with `fds` as SCM_RIGHTS; returns what sendmsg
/// returned (errno intact on -1). The one place kin builds SCM_RIGHTS.
ssize_t send_some_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds, int flags);
/// sendmsg() `bytes` with `fds` as SCM_RIGHTS (all bytes are written; fds go with the first).
/// A full non-blocking socket is waited on; BrokenPipeError when the peer is gone.
void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds);
/// recvmsg() exactly `bytes.size()` bytes; fds that came along are appended to `fds`.
/// Throws EOFError on a clean EOF before the first byte, ProtocolError inside.
void recv_with_fds(int sock, std::span<std::byte> bytes, std::vector<unique_fd>& fds);

/// One recvmsg() of up to `buf.size()` bytes (MSG_CMSG_CLOEXEC): the fds that came along are
/// appended to `fds` (every one owned, so none leaks whatever the caller does next);
/// `truncated` is set when the kernel dropped some (MSG_CTRUNC: more fds than kMaxFdsPerMessage).
/// Returns what recvmsg returned (errno intact on -1). The one place kin parses SCM_RIGHTS.
ssize_t recv_some_with_fds(int sock, std::span<std::byte> buf, std::vector<unique_fd>& fds, bool& truncated,
                           int flags = 0);

/// The fds a stream reader received and not yet given to a frame, keyed by stream offsets.
/// The kernel hands a sendmsg's fds out with the first byte of that sendmsg and ends the
/// recvmsg after it, so the fds of one recvmsg belong to the frame holding the last byte that
/// recvmsg returned: send_with_fds attaches a frame's fds to its first byte, hence the frame
/// that contains byte `end - 1` of the read is the one that was sent with them.
class ReceivedFds {
 public:
  /// Records what one read ending at stream offset `end` brought (nothing when both are empty).
  void add(std::uint64_t end, std::vector<unique_fd> fds, bool truncated);
  /// Takes the fds of the frame occupying stream bytes [begin, end); fds of earlier frames
  /// (dropped unread, e.g. by recv_bytes) are closed. `truncated` tells whether any of this
  /// frame's fds were lost to MSG_CTRUNC.
  std::vector<unique_fd> take(std::uint64_t begin, std::uint64_t end, bool& truncated);
  /// Closes the fds of frames that end at or before stream offset `end` (dropped unclaimed).
  void drop_until(std::uint64_t end) noexcept;
  /// Closes every fd not yet taken.
  void clear() noexcept { pending_.clear(); }
  [[nodiscard]] bool empty() const noexcept { return pending_.empty(); }

 private:
  struct Entry {
    std::uint64_t end;
    std::vector<unique_fd> fds;
    bool truncated;
  };
  std::vector<Entry> pending_;  // in stream order; rarely more than one
};

}  // namespace kin::detail
