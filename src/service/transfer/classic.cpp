// The seeds' classic format on the native port (docs/PROTOCOL.md section 7): a JSON head
// ({"file_size", "file_name", "md5"}), the file's bytes, the next head, ... and no replies at
// all. Each file is an upload of its own, committed as soon as it is verified.
#include <cctype>

#include "server_state.hpp"
#include "sockit/net/error.hpp"
#include "wire_error.hpp"

namespace sockit::service::transfer {

asio::awaitable<std::error_code> server_state::classic_session(reader_type& r,
                                                               const std::string& peer) {
  for (;;) {
    codec::frame_header h;
    if (auto ec = co_await r.read_header(h)) co_return ec;
    std::string shown = str_field(h.fields, "file_name");
    std::error_code ec;
    std::string base = classic_safe_name(shown, ec);
    std::string md5 = str_field(h.fields, "md5");
    for (char& c : md5) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto owned = std::make_unique<upload>(*this, peer, hash_algorithm::md5);
    upload& up = *owned;
    up.name = base;
    if (!ec && h.body_size > opt.max_file_size) ec = errc::body_too_large;
    if (!ec) ec = up.open({base}, 0, h.body_size, false, nullptr);
    rate_floor rate = body_rate();
    if (ec) {
      up.done = true;
      owned.reset();  // the name is free while the body is skipped (see handle_put)
      count_failed(peer, shown, h.body_size, std::string(wire_code(ec)));
      // Skipped, but under the same rate floor as a body that is kept.
      while (r.body_left() > 0) {
        auto [rec, piece] = co_await r.read_body();
        if (rec) co_return rec;
        if (!rate.add(piece.size())) co_return make_error_code(std::errc::timed_out);
      }
      continue;
    }
    while (r.body_left() > 0) {
      auto [rec, piece] = co_await r.read_body();
      if (rec) co_return rec;
      if (auto wec = up.write(piece)) {
        count_failed(peer, shown, up.written, std::string(wire_code(wec)));
        up.abandon();  // as a native refusal: no partial, no directories, budget given back
        co_return wec;
      }
      if (!rate.add(piece.size())) {
        // Reported but, unlike every other failure, not counted in stats().failed (as it
        // always was; a native put below the floor is counted).
        emit(transfer_event::type::failed, peer, shown, up.written, "timed_out: below --min-rate");
        co_return make_error_code(std::errc::timed_out);
      }
    }
    // Without an md5 in the head only the size can be checked (it was: the body is exact).
    std::string expected = md5.empty() ? up.hash.hex() : md5;
    if (auto cec = up.verify_and_set_attrs(expected, -1, -1)) {
      count_failed(peer, shown, up.written, std::string(wire_code(cec)));
      continue;
    }
    commit_batch one(batched, max_batched);
    one.add({std::move(owned), nullptr, false, base, {}});
    co_await commit(one, nullptr, peer);
  }
}

}  // namespace sockit::service::transfer
