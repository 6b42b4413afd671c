// Handing kin objects (connections, queues, values, locks) to a child under the spawn and
// forkserver start methods. Their arguments are encoded with kin's codec; an object that owns
// fds writes, in its `inspect` overload, an *index* into a side list of fds instead of the fd
// number. The start method sends that list with SCM_RIGHTS beside the bytes, and the child
// decodes with the received fds installed. Under fork nothing is encoded: objects are copied
// and their fds inherited.
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

/// Records a duplicate of `fd` for the child and returns its slot. Throws ValueError outside
/// a HandoverExport (kin objects only travel as arguments of a starting child).
std::uint32_t handover_export(int fd);
/// Takes the fd in `slot` (each slot once). Throws ProtocolError for a bad or used slot.
unique_fd handover_import(std::uint32_t slot);

/// sendmsg() `bytes` with `fds` as SCM_RIGHTS (all bytes are written; fds go with the first).
void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds);
/// recvmsg() exactly `bytes.size()` bytes; fds that came along are appended to `fds`.
/// Throws EOFError on a clean EOF before the first byte, ProtocolError inside.
void recv_with_fds(int sock, std::span<std::byte> bytes, std::vector<unique_fd>& fds);

}  // namespace kin::detail
