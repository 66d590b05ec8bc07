// The sockit error category: stable names for sockit::errc values.
#include "sockit/net/error.hpp"

namespace sockit {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sockit"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::ok:
        return "success";
      case errc::invalid_endpoint:
        return "invalid endpoint";
      case errc::invalid_port:
        return "invalid port";
      case errc::unknown_service:
        return "unknown service name";
      case errc::invalid_address:
        return "invalid address";
      case errc::path_too_long:
        return "Unix socket path too long";
      case errc::resolve_failed:
        return "name resolution failed";
      case errc::invalid_prefix:
        return "invalid prefix length";
      case errc::invalid_mask:
        return "invalid netmask";
      case errc::family_mismatch:
        return "address family mismatch";
      case errc::name_not_found:
        return "no name for address";
      case errc::invalid_size:
        return "invalid size";
      case errc::frame_too_large:
        return "frame too large";
      case errc::bad_header:
        return "bad frame header";
      case errc::too_many_connections:
        return "too many connections";
      case errc::body_too_large:
        return "frame body too large";
      case errc::header_too_deep:
        return "frame header nested too deeply";
      case errc::bad_magic:
        return "not a sockit or classic connection";
      case errc::protocol_error:
        return "protocol error";
    }
    return "unknown sockit error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace sockit
