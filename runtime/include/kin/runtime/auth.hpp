// The authkey handshake of Listener/Client, as Python's multiprocessing.connection does it,
// with HMAC-SHA256 (OpenSSL): each side proves it knows the key by answering a random
// challenge from the other, before any payload is decoded. Handshake frames are tiny (max
// 256 bytes) and every read is bounded by the handshake timeout.
#pragma once

#include <chrono>
#include <string>

namespace kin::detail {

/// Sends a challenge and checks the answer. AuthenticationError for a wrong key;
/// ProtocolError for malformed, oversized or missing (timeout) handshake messages.
void deliver_challenge(int fd, const std::string& key, std::chrono::milliseconds timeout);
/// Answers the peer's challenge. AuthenticationError when the peer rejects our key.
void answer_challenge(int fd, const std::string& key, std::chrono::milliseconds timeout);

}  // namespace kin::detail
