// The native `put` request (docs/PROTOCOL.md section 4): its header's checks, the resume
// prefix, the body (one sized body, or data frames ended by an empty one), the trailer's
// hash; then the verified upload joins the connection's commit batch (upload.cpp). A refused
// put is drained so the connection stays in step, and answered in request order.
#include "server_state.hpp"
#include "sockit/net/error.hpp"
#include "wire_error.hpp"

namespace sockit::service::transfer {

// After a refused put, reads (and drops) what the client already sent for it, so the
// connection stays in step: the body, data frames, the trailer; under the same rate floor
// as a body that is kept.
asio::awaitable<std::error_code> server_state::drain_put(reader_type& r, bool stream,
                                                         rate_floor& rate) {
  codec::frame_header t;
  for (;;) {
    while (r.body_left() > 0) {
      auto [rec, piece] = co_await r.read_body();
      if (rec) co_return rec;
      if (!rate.add(piece.size())) co_return make_error_code(std::errc::timed_out);
    }
    if (auto ec = co_await r.read_header(t)) co_return ec;
    if (t.op() == "end") co_return std::error_code{};
    if (!stream || t.op() != "data") co_return errc::protocol_error;
  }
}

// Answers a request with an error frame, after the replies of the verified uploads before it
// (commit: replies stay in request order).
asio::awaitable<void> server_state::answer_error(writer_type& w, commit_batch& batch,
                                                 const std::string& peer, const json& id,
                                                 const std::error_code& ec, std::string message) {
  co_await commit(batch, &w, peer);
  w.queue(error_frame(id, ec, std::move(message)));
}

// A refused put, the one way: counted and reported (count_failed; detail its wire code unless
// given), then answered (answer_error).
asio::awaitable<void> server_state::refuse_put(writer_type& w, commit_batch& batch,
                                               const std::string& peer, const json& id,
                                               const std::string& name, std::uint64_t bytes,
                                               const std::error_code& ec, std::string detail,
                                               std::string message) {
  count_failed(peer, name, bytes, detail.empty() ? std::string(wire_code(ec)) : std::move(detail));
  co_await answer_error(w, batch, peer, id, ec, std::move(message));
}

// An upload (or the body of a refused one) below --min-rate: refused, and the connection
// closed (the returned error).
asio::awaitable<std::error_code> server_state::too_slow(writer_type& w, const json& id,
                                                        commit_batch& batch,
                                                        const std::string& peer,
                                                        const std::string& name) {
  co_await refuse_put(w, batch, peer, id, name, 0, make_error_code(std::errc::timed_out),
                      "timed_out: below --min-rate",
                      "upload slower than the server's minimum rate");
  co_return make_error_code(std::errc::timed_out);
}

asio::awaitable<std::error_code> server_state::handle_put(reader_type& r, writer_type& w,
                                                          const codec::frame_header& h,
                                                          const json& id, const std::string& peer,
                                                          commit_batch& batch, made_dirs& made) {
  const json& f = h.fields;
  std::string name = str_field(f, "name");
  bool stream = !h.has_body;
  hash_algorithm algo = hash_algorithm::xxh3;
  std::error_code ec;
  if (opt.read_only) ec = transfer_errc::not_permitted;  // refused, and its body drained
  if (!ec && f.contains("hash") && !parse_hash_name(str_field(f, "hash"), algo))
    ec = errc::bad_header;
  auto offset = num_field<std::uint64_t>(f, "offset", 0);
  bool overwrite = bool_field(f, "overwrite") && opt.allow_overwrite;
  // A drop box: a peer may add files, never replace or extend another's (a resume would also
  // answer whether a prefix hash matches someone else's partial upload).
  if (!ec && opt.upload_only && (overwrite || offset != 0)) ec = transfer_errc::not_permitted;
  int mode = num_field<int>(f, "mode", -1);
  auto mtime_ns = num_field<std::int64_t>(f, "mtime_ns", -1);
  std::vector<std::string> parts;
  if (!ec) parts = split_safe_name(name, ec);
  std::uint64_t total = stream ? UINT64_MAX : offset + h.body_size;
  if (!ec && !stream && (total < offset || total > opt.max_file_size)) ec = errc::body_too_large;
  if (!ec && stream && offset != 0) ec = errc::bad_header;
  auto owned = std::make_unique<upload>(*this, peer, algo);
  upload& up = *owned;
  up.name = name;
  if (!ec) ec = up.open(parts, offset, stream ? UINT64_MAX : h.body_size, overwrite, &made);
  if (!ec && offset > 0) {
    // Never the hash `stat` cached: the partial may have been rewritten since.
    std::string prefix_hash = str_field(f, "prefix_hash");
    hasher prefix(algo);  // sliced, fair and cancellable, as for stat and get
    ec = co_await hash_prefix(w, up.file.get(), offset, prefix);
    if (!ec) co_await on_disk([&] { ec = up.verify_prefix(prefix_hash, prefix); });
  }
  rate_floor rate = body_rate();
  if (ec) {
    up.done = true;
    // Its claim on the name, its descriptors and its budget go before the body it will not
    // store is drained (at --min-rate that can take long): another upload of the name need
    // not wait for it.
    owned.reset();
    // Reported now, answered once the rest of the request is drained (refuse_put's two
    // halves, apart).
    count_failed(peer, name, 0, std::string(wire_code(ec)));
    if (auto dec = co_await drain_put(r, stream, rate)) {
      if (dec == std::errc::timed_out) co_return co_await too_slow(w, id, batch, peer, name);
      co_return dec;
    }
    co_await answer_error(w, batch, peer, id, ec);
    co_return std::error_code{};
  }
  // The body: one sized body, or data frames ended by an empty one.
  std::error_code werr;
  bool slow = false;
  auto consume_body = [&]() -> asio::awaitable<std::error_code> {
    while (r.body_left() > 0) {
      auto [rec, piece] = co_await r.read_body();
      if (rec) co_return rec;
      if (!werr && (werr = up.write(piece))) {
        up.abandon();  // nothing left behind, the name free; the rest is read to stay in step
      }
      if (!rate.add(piece.size())) {
        slow = true;
        co_return make_error_code(std::errc::timed_out);
      }
    }
    co_return std::error_code{};
  };
  if (!stream) {
    if (auto rec = co_await consume_body()) {
      if (slow) co_return co_await too_slow(w, id, batch, peer, name);
      co_return rec;
    }
  } else {
    codec::frame_header dh;
    for (;;) {
      if (auto rec = co_await r.read_header(dh)) co_return rec;
      if (dh.op() != "data") {
        co_await answer_error(w, batch, peer, id, errc::protocol_error, "expected a data frame");
        co_return errc::protocol_error;
      }
      if (!dh.has_body || dh.body_size == 0) break;
      if (auto rec = co_await consume_body()) {
        if (slow) co_return co_await too_slow(w, id, batch, peer, name);
        co_return rec;
      }
    }
  }
  codec::frame_header t;
  if (auto rec = co_await r.read_header(t)) co_return rec;
  if (t.op() != "end") {
    co_await answer_error(w, batch, peer, id, errc::protocol_error, "expected the end trailer");
    co_return errc::protocol_error;
  }
  if (werr) {
    // Refused mid-body (a limit, a full disk): abandoned as the error came (consume_body).
    co_await refuse_put(w, batch, peer, id, name, up.written, werr);
    co_return std::error_code{};
  }
  if (auto cec = up.verify_and_set_attrs(str_field(t.fields, "hash"), mode, mtime_ns)) {
    co_await refuse_put(w, batch, peer, id, name, up.written, cec);
    co_return std::error_code{};
  }
  if (batch.add({std::move(owned), id, overwrite, name, {}})) co_await commit(batch, &w, peer);
  co_return std::error_code{};
}

}  // namespace sockit::service::transfer
