#include <kin/runtime/auth.hpp>
#include <kin/runtime/framing.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace kin::detail {

namespace {

constexpr std::size_t kMaxHandshakeFrame = 256;
constexpr std::size_t kNonceBytes = 32;
const std::string kChallenge = "#CHALLENGE#";
const std::string kWelcome = "#WELCOME#";
const std::string kFailure = "#FAILURE#";

std::string as_string(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

void send(int fd, const std::string& s) {
  write_frame(fd, std::as_bytes(std::span<const char>(s.data(), s.size())), kMaxHandshakeFrame);
}

std::string recv(int fd, std::chrono::milliseconds timeout) {
  try {
    auto b = read_frame(fd, timeout, kMaxHandshakeFrame);
    if (!b) throw ProtocolError("kin: authentication handshake timed out");
    return as_string(*b);
  } catch (const EOFError&) {
    throw ProtocolError("kin: the peer closed during the authentication handshake");
  }
}

std::string hmac(const std::string& key, const std::string& msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
           msg.size(), out, &len) == nullptr)
    throw Error("kin: HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

void deliver_challenge(int fd, const std::string& key, std::chrono::milliseconds timeout) {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) != 1)
    throw Error("kin: RAND_bytes failed");
  send(fd, kChallenge + nonce);
  std::string answer = recv(fd, timeout);
  std::string expected = hmac(key, nonce);
  if (answer.size() != expected.size() || CRYPTO_memcmp(answer.data(), expected.data(), expected.size()) != 0) {
    try {
      send(fd, kFailure);
    } catch (const Error&) {
    }
    throw AuthenticationError("kin: digest received was wrong (the peer does not know the authkey)");
  }
  send(fd, kWelcome);
}

void answer_challenge(int fd, const std::string& key, std::chrono::milliseconds timeout) {
  std::string msg = recv(fd, timeout);
  if (msg.size() != kChallenge.size() + kNonceBytes || msg.compare(0, kChallenge.size(), kChallenge) != 0)
    throw ProtocolError("kin: malformed authentication challenge");
  send(fd, hmac(key, msg.substr(kChallenge.size())));
  std::string verdict = recv(fd, timeout);
  if (verdict == kWelcome) return;
  if (verdict == kFailure) throw AuthenticationError("kin: digest sent was rejected (the authkeys differ)");
  throw ProtocolError("kin: malformed authentication verdict");
}

}  // namespace kin::detail
