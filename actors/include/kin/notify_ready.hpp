// kin::notify_ready(): a supervised child says "I am ready" — the next child in its
// supervisor's start order starts only then (kin::Readiness, child_spec.hpp).
//
//   void server(int port) {
//     Listener l{...};          // bind, load, warm up
//     kin::notify_ready();      // now the supervisor counts this child as started
//     serve(l);
//   }
//
// It speaks systemd's sd_notify protocol: a datagram "READY=1" to the Unix socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), so a kin program supervised
// by systemd (Type=notify) or by kin does the same thing. Returns false, and does nothing,
// when nobody listens ($NOTIFY_SOCKET unset); an unreachable socket is an OSError. Calling it
// again is harmless.
#pragma once

#include <string_view>

namespace kin {

/// Sends "READY=1" (or `state`, sd_notify's "KEY=VALUE\n..." form) to $NOTIFY_SOCKET.
bool notify_ready(std::string_view state = "READY=1");

}  // namespace kin
