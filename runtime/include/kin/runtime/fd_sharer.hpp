// Fds through a channel that cannot carry them — a kin::Queue's shared-memory ring — as
// Python's multiprocessing.resource_sharer does it: the sending process keeps a duplicate of
// each fd and writes a *ticket* into the message; the receiving process connects to the
// sender's sharer (an abstract Unix socket, authenticated with kin's HMAC handshake on a key
// the ticket carries), names the fds, and gets them by SCM_RIGHTS. Each fd is handed out once.
//
//   std::vector<unique_fd> fds = ...;                 // what the encoding exported
//   auto ids = append_fd_ticket(bytes, std::move(fds)); // in the sender
//   auto got = take_fd_ticket(view);                  // in the receiver: the fds, in order
//
// The sharer is a thread of the sending process, started at its first ticket, that accepts
// one client at a time (each bounded by 5 s). The sender must still be running when the
// receiver takes the message: if it is gone, take_fd_ticket throws OSError (the message has
// been consumed; Python's Queue fails the same way). A ticket nobody takes keeps its fds open
// in the sender until it exits (withdraw_fds gives them up, for a put that did not happen).
// A fork child does not inherit the sharer: its copies of the fds are closed, and its first
// ticket starts a sharer of its own.
#pragma once

#include <kin/codec.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace kin::detail {

/// Hands `fds` to this process's sharer and appends the ticket that names them to `out`.
/// Returns their ids (for withdraw_fds).
std::vector<std::uint64_t> append_fd_ticket(Bytes& out, std::vector<unique_fd> fds);
/// Closes the fds of a ticket that was never sent.
void withdraw_fds(const std::vector<std::uint64_t>& ids) noexcept;
/// Reads a ticket from the front of `in` (advancing it) and fetches its fds from the sender.
/// ProtocolError for a malformed ticket or fds already taken; OSError when the sender is gone;
/// AuthenticationError for a forged key; TimeoutError after 5 s.
std::vector<unique_fd> take_fd_ticket(std::span<const std::byte>& in);

}  // namespace kin::detail
