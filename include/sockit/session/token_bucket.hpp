// token_bucket: at most `rate` events (or bytes) per second on average and `burst` at once:
// the chat room's --rate/--burst per member (IRC's "fakelag": a flooder's lines are taken at
// a bounded pace and the rest waits in its socket, so TCP pushes back on it) and echo's UDP
// reply limits per source (session::source_limiter). Pure: the caller passes the time, so
// tests need no clock. A default-constructed bucket, or rate 0, never runs dry.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace sockit::session {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  token_bucket() = default;
  /// Starts full. A burst below one (or NaN) is one: one event must always be possible. A
  /// rate that is not a positive finite number means no limit.
  token_bucket(double rate, double burst, clock::time_point now)
      : rate_(rate > 0 && rate < std::numeric_limits<double>::infinity() ? rate : 0),
        burst_(burst >= 1 && burst < std::numeric_limits<double>::infinity() ? burst : 1),
        tokens_(burst_),
        last_(now) {}

  bool limited() const noexcept { return rate_ > 0; }
  /// Whether an event may happen now without waiting (as of the last refill).
  bool ready() const noexcept { return !limited() || tokens_ >= 1; }

  /// Spends a token on an event that has happened. Returns whether another may follow at
  /// once; when none is left it refills for the time passed first, so `now` (a callable
  /// giving the time) is called only when the bucket runs dry, not per event.
  template <class Now>
  bool spend(Now&& now) {
    if (!limited()) return true;
    // A full bucket gained nothing while it sat full: the refill time starts now, or a
    // member quiet for a while would get its burst twice.
    if (tokens_ >= burst_) last_ = now();
    tokens_ -= 1;
    if (tokens_ >= 1) return true;
    refill(now());
    return tokens_ >= 1;
  }

  /// Whole events it may take now, after refilling (a huge number when unlimited).
  double available(clock::time_point now) {
    if (!limited()) return std::numeric_limits<double>::max();
    refill(now);
    return tokens_;
  }

  /// Whether it holds `cost` tokens after refilling.
  bool holds(clock::time_point now, double cost = 1) {
    if (!limited()) return true;
    refill(now);
    return tokens_ >= cost;
  }

  /// Takes `cost` tokens if the bucket holds that many after refilling; false, and nothing
  /// taken, otherwise (so a cost above the burst never passes).
  bool try_take(clock::time_point now, double cost = 1) {
    if (!limited()) return true;
    refill(now);
    if (tokens_ < cost) return false;
    tokens_ -= cost;
    return true;
  }

  /// Whether it holds its whole burst after refilling: forgetting it would change nothing.
  bool full(clock::time_point now) {
    if (!limited()) return true;
    refill(now);
    return tokens_ >= burst_;
  }

  /// How long until the next event may happen (zero when it may now).
  clock::duration wait(clock::time_point now) {
    if (!limited()) return clock::duration::zero();
    refill(now);
    if (tokens_ >= 1) return clock::duration::zero();
    // At most a day, so that a tiny rate cannot overflow the conversion.
    auto d = std::chrono::duration<double>(std::min((1 - tokens_) / rate_, 86400.0));
    return std::max<clock::duration>(std::chrono::ceil<clock::duration>(d), clock::duration(1));
  }

 private:
  void refill(clock::time_point now) {
    if (now > last_) {
      tokens_ =
          std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
      last_ = now;
    }
  }

  double rate_ = 0, burst_ = 1, tokens_ = 1;
  clock::time_point last_{};
};

}  // namespace sockit::session
