#include <kin/runtime/auth.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/syscall.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kin::detail {

namespace {

constexpr std::size_t kMaxHandshakeFrame = 256;
constexpr std::size_t kNonceBytes = 32;
const std::string kChallenge = "#CHALLENGE#";
const std::string kWelcome = "#WELCOME#";
const std::string kFailure = "#FAILURE#";

std::string hmac(const std::string& key, const std::string& msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
           msg.size(), out, &len) == nullptr)
    throw Error("kin: HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

Handshake::Handshake(std::string key, Role role) : key_(std::move(key)), role_(role) {
  if (role_ == Role::server) {
    send_challenge();
  } else {
    step_ = Step::wait_peer_challenge;
  }
}

void Handshake::send_frame(const std::string& payload) {
  std::byte header[kFrameHeaderSize];
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(header), payload.size());
  out_.append(reinterpret_cast<const char*>(header), kFrameHeaderSize);
  out_ += payload;
}

void Handshake::send_challenge() {
  nonce_.assign(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce_.data()), static_cast<int>(nonce_.size())) != 1)
    throw Error("kin: RAND_bytes failed");
  send_frame(kChallenge + nonce_);
  step_ = Step::wait_answer;
}

std::string Handshake::take_output() { return std::exchange(out_, std::string{}); }

std::size_t Handshake::want() const noexcept { return step_ == Step::done || error_ ? 0 : need_; }

void Handshake::check() const {
  if (error_ && out_.empty()) std::rethrow_exception(error_);
}

void Handshake::feed(const char* data, std::size_t n) {
  while (n > 0 && want() > 0) {
    std::size_t take = std::min(n, need_);
    in_.append(data, take);
    data += take;
    n -= take;
    need_ -= take;
    if (need_ > 0) continue;
    if (in_header_) {
      std::byte header[kFrameHeaderSize];
      std::memcpy(header, in_.data(), kFrameHeaderSize);
      need_ = parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(header), kMaxHandshakeFrame);
      in_.clear();
      in_header_ = need_ == 0;  // an empty frame is complete at once
      if (!in_header_) continue;
      need_ = kFrameHeaderSize;
      on_frame(std::string{});
      continue;
    }
    std::string payload = std::exchange(in_, std::string{});
    in_header_ = true;
    need_ = kFrameHeaderSize;
    on_frame(payload);
  }
  if (n > 0 && !error_) throw ProtocolError("kin: unexpected bytes after the authentication handshake");
}

void Handshake::on_frame(const std::string& msg) {
  switch (step_) {
    case Step::wait_answer: {
      std::string expected = hmac(key_, nonce_);
      if (msg.size() != expected.size() || CRYPTO_memcmp(msg.data(), expected.data(), expected.size()) != 0) {
        send_frame(kFailure);
        error_ = std::make_exception_ptr(
            AuthenticationError("kin: digest received was wrong (the peer does not know the authkey)"));
        step_ = Step::done;
        return;
      }
      send_frame(kWelcome);
      step_ = role_ == Role::server ? Step::wait_peer_challenge : Step::done;
      return;
    }
    case Step::wait_peer_challenge:
      if (msg.size() != kChallenge.size() + kNonceBytes || msg.compare(0, kChallenge.size(), kChallenge) != 0)
        throw ProtocolError("kin: malformed authentication challenge");
      send_frame(hmac(key_, msg.substr(kChallenge.size())));
      step_ = Step::wait_verdict;
      return;
    case Step::wait_verdict:
      if (msg == kFailure) {
        error_ = std::make_exception_ptr(AuthenticationError("kin: digest sent was rejected (the authkeys differ)"));
        step_ = Step::done;
        return;
      }
      if (msg != kWelcome) throw ProtocolError("kin: malformed authentication verdict");
      if (role_ == Role::server) {
        step_ = Step::done;
      } else {
        send_challenge();
      }
      return;
    case Step::done:
      throw ProtocolError("kin: unexpected bytes after the authentication handshake");
  }
}

void run_handshake(int fd, const std::string& key, Handshake::Role role, Deadline deadline) {
  Handshake h{key, role};
  auto wait_for = [&](short events) {
    if (poll_fd(fd, events, std::chrono::milliseconds{deadline.poll_ms()}) == 0)
      throw TimeoutError("kin: authentication handshake timed out");
  };
  for (;;) {
    std::string out = h.take_output();
    std::size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        off += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(POLLOUT);
      } else if (errno != EINTR) {
        if (h.failed()) break;  // the peer may be gone already: report the real failure
        throw ProtocolError(std::string("kin: the peer closed during the authentication handshake: ") + std::strerror(errno));
      }
    }
    h.check();
    if (h.finished()) return;
    char buf[kMaxHandshakeFrame + kFrameHeaderSize];
    ssize_t n = ::recv(fd, buf, std::min(h.want(), sizeof buf), MSG_DONTWAIT);
    if (n > 0) {
      h.feed(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw ProtocolError("kin: the peer closed during the authentication handshake");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(POLLIN);
    } else if (errno != EINTR) {
      throw ProtocolError(std::string("kin: the peer closed during the authentication handshake: ") + std::strerror(errno));
    }
  }
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1)
    throw Error("kin: RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char ch : raw) {
    out.push_back(digits[ch >> 4]);
    out.push_back(digits[ch & 15]);
  }
  return out;
}

}  // namespace kin::detail
